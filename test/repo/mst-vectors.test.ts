// The interop MST and firehose commit-proof vectors (../shared/interop-tests).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlockMap } from '../../src/repo/block-map.ts'
import { parseCid } from '../../src/repo/cid.ts'
import { checkInversion, InversionError, type RepoOp } from '../../src/repo/inversion.ts'
import { commonPrefixLength, coveringProof, keyHeight, Mst } from '../../src/repo/mst/index.ts'
import { readShared, readSharedJson, sharedSkip } from '../helpers/shared.ts'

test('interop mst/key_heights.json: every key sits at its layer', { skip: sharedSkip }, () => {
  const cases = readSharedJson<Array<{ key: string; height: number }>>('mst/key_heights.json')
  assert.ok(cases.length >= 9)
  for (const { key, height } of cases) assert.equal(keyHeight(key), height, key)
})

test('interop mst/common_prefix.json: shared prefix lengths', { skip: sharedSkip }, () => {
  const cases = readSharedJson<Array<{ left: string; right: string; len: number }>>('mst/common_prefix.json')
  assert.ok(cases.length >= 13)
  for (const { left, right, len } of cases) assert.equal(commonPrefixLength(left, right), len, `${left}|${right}`)
})

test('interop mst/example_keys.txt: each key has the layer its name states', { skip: sharedSkip }, () => {
  const keys = readShared('mst/example_keys.txt').split(/\r?\n/).filter((l) => l.length > 0)
  assert.equal(keys.length, 156)
  for (const key of keys) assert.equal(keyHeight(key), Number(key[1]), key)
})

interface ProofFixture {
  comment: string
  leafValue: string
  keys: string[]
  adds: string[]
  dels: string[]
  rootBeforeCommit: string
  rootAfterCommit: string
  blocksInProof: string[]
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items.slice()]
  const out: T[][] = []
  items.forEach((item, i) => {
    for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) out.push([item, ...rest])
  })
  return out
}

test('interop firehose/commit-proof-fixtures.json: roots, covering proofs and inversion in every order', { skip: sharedSkip }, () => {
  const fixtures = readSharedJson<ProofFixture[]>('firehose/commit-proof-fixtures.json')
  assert.equal(fixtures.length, 6)
  for (const fx of fixtures) {
    const leaf = parseCid(fx.leafValue)
    const stored = new BlockMap()
    const tree = Mst.create(stored)
    for (const key of fx.keys) tree.add(key, leaf)
    const before = tree.changes()
    assert.equal(before.root.$link, fx.rootBeforeCommit, `${fx.comment}: root before`)
    stored.addMap(before.newBlocks)
    tree.markStored()

    for (const key of fx.adds) tree.add(key, leaf)
    for (const key of fx.dels) tree.delete(key)
    const after = tree.changes()
    assert.equal(after.root.$link, fx.rootAfterCommit, `${fx.comment}: root after`)

    const proof = new BlockMap()
    for (const key of [...fx.adds, ...fx.dels]) coveringProof(tree.store, tree.root, key, proof)
    const proofCids = proof.cids().map((c) => c.$link).sort()
    assert.deepEqual(proofCids, [...fx.blocksInProof].sort(), `${fx.comment}: proof blocks`)

    const ops: RepoOp[] = [
      ...fx.adds.map((path): RepoOp => ({ action: 'create', path, cid: leaf })),
      ...fx.dels.map((path): RepoOp => ({ action: 'delete', path, cid: null, prev: leaf })),
    ]
    const root = parseCid(fx.rootAfterCommit)
    const prevData = parseCid(fx.rootBeforeCommit)
    let orders = 0
    for (const order of permutations(ops)) {
      checkInversion(proof, root, order, prevData)
      orders++
    }
    assert.ok(orders >= 1)

    // With only the new root the deeper nodes are missing, and a wrong prevData never matches.
    const onlyRoot = new BlockMap().set(root, proof.get(root) as Uint8Array)
    // (Inverting a split needs the split halves; an add on the tree's edge may need nothing more.)
    if (fx.comment.includes('split')) {
      assert.throws(() => checkInversion(onlyRoot, root, ops, prevData), InversionError, `${fx.comment}: root only`)
    }
    assert.throws(() => checkInversion(proof, root, ops, root), InversionError, `${fx.comment}: wrong prevData`)
  }
})
