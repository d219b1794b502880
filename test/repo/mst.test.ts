import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryBlockstore, MST } from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor } from '../../src/repo/cid.ts'
import {
  buildTree,
  decodeNode,
  diffTrees,
  encodeNode,
  Leaf,
  type MstNode,
  SubRef,
  keyHeight,
  Mst,
  MstKeyExistsError,
  MstKeyNotFoundError,
  MstNodeError,
  NodeStore,
  pathNodes,
} from '../../src/repo/mst/index.ts'
import { fromRefCid, prng, toRefCid } from '../helpers/reference.ts'

const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow', 'com.example.record']

function randomKey(rand: () => number): string {
  const col = COLLECTIONS[Math.floor(rand() * COLLECTIONS.length)]
  let rkey = ''
  const alphabet = '234567abcdefghijklmnopqrstuvwxyz'
  for (let i = 0; i < 13; i++) rkey += alphabet[Math.floor(rand() * 32)]
  return `${col}/${rkey}`
}

function valueCid(n: number): Cid {
  return cidForCbor(encodeCbor({ n }))
}

/** Persists a tree's new blocks into `blocks` and marks it stored, as the repo layer does. */
function persist(tree: Mst, blocks: BlockMap): Cid {
  const { root, newBlocks } = tree.changes()
  blocks.addMap(newBlocks)
  tree.markStored()
  return root
}

test('MST: 10,000 random adds, updates and deletes give the reference root CID every 100 ops', async () => {
  const rand = prng(42)
  const blocks = new BlockMap()
  const hearth = Mst.create(blocks)
  let ref = await MST.create(new MemoryBlockstore())
  const live: string[] = []
  const liveSet = new Set<string>()
  let checks = 0
  for (let op = 1; op <= 10_000; op++) {
    const r = rand()
    if (live.length < 50 || r < 0.6) {
      const key = randomKey(rand)
      if (liveSet.has(key)) continue
      const v = valueCid(op)
      hearth.add(key, v)
      ref = await ref.add(key, toRefCid(v))
      live.push(key)
      liveSet.add(key)
    } else if (r < 0.8) {
      const key = live[Math.floor(rand() * live.length)]
      const v = valueCid(-op)
      hearth.update(key, v)
      ref = await ref.update(key, toRefCid(v))
    } else {
      const idx = Math.floor(rand() * live.length)
      const key = live[idx]
      live[idx] = live[live.length - 1]
      live.pop()
      liveSet.delete(key)
      hearth.delete(key)
      ref = await ref.delete(key)
    }
    if (op % 100 === 0) {
      // Alternate between comparing the in-memory tree and a stored-and-reloaded one.
      const root = op % 200 === 0 ? persist(hearth, blocks) : hearth.rootCid()
      assert.equal(root.$link, (await ref.getPointer()).toString(), `root differs after op ${op}`)
      checks++
    }
  }
  assert.equal(checks, 100)
  const reloaded = Mst.load(blocks, hearth.rootCid())
  const keys = [...reloaded.entries()].map((e) => e.key)
  assert.deepEqual(keys, [...liveSet].sort())
})

test('MST: bulk build from sorted entries equals incremental inserts and the reference', async () => {
  const rand = prng(7)
  const entries = new Map<string, Cid>()
  while (entries.size < 3000) entries.set(randomKey(rand), valueCid(entries.size))
  const sorted = [...entries].map(([key, value]) => ({ key, value })).sort((a, b) => (a.key < b.key ? -1 : 1))
  const built = Mst.fromNode(new BlockMap(), buildTree(sorted))
  const incremental = Mst.create(new BlockMap())
  let ref = await MST.create(new MemoryBlockstore())
  for (const [key, value] of entries) {
    incremental.add(key, value)
    ref = await ref.add(key, toRefCid(value))
  }
  assert.equal(built.rootCid().$link, incremental.rootCid().$link)
  assert.equal(built.rootCid().$link, (await ref.getPointer()).toString())
  assert.equal(buildTree([]).entries.length, 0)
  assert.throws(() => buildTree([sorted[1], sorted[0]]), /not sorted/)
})

test('MST: empty tree CID matches the reference and add/delete returns to it', async () => {
  const ref = await MST.create(new MemoryBlockstore())
  const t = Mst.create(new BlockMap())
  assert.equal(t.rootCid().$link, (await ref.getPointer()).toString())
  const empty = t.rootCid()
  t.add('com.example.record/3jqfcqzm3fo2j', valueCid(1))
  assert.notEqual(t.rootCid().$link, empty.$link)
  t.delete('com.example.record/3jqfcqzm3fo2j')
  assert.equal(t.rootCid().$link, empty.$link)
})

test('MST: get, add-existing, update/delete-missing and invalid keys', () => {
  const t = Mst.create(new BlockMap())
  t.add('com.example.record/a', valueCid(1))
  assert.equal(t.get('com.example.record/a')?.$link, valueCid(1).$link)
  assert.equal(t.get('com.example.record/b'), null)
  assert.throws(() => t.add('com.example.record/a', valueCid(2)), MstKeyExistsError)
  assert.throws(() => t.update('com.example.record/zz', valueCid(2)), MstKeyNotFoundError)
  assert.throws(() => t.delete('com.example.record/zz'), MstKeyNotFoundError)
  for (const bad of ['', 'nokey', 'a/b/c', '/rkey', 'col/', 'col/with space', 'col/é', 'x'.repeat(1030) + '/a']) {
    assert.throws(() => t.add(bad, valueCid(3)), /not a valid MST key/, bad)
  }
  // A failed edit leaves the tree as it was.
  assert.equal(t.get('com.example.record/a')?.$link, valueCid(1).$link)
})

test('MST: list with cursors, bounds, prefix and reverse agrees with a sorted array', () => {
  const rand = prng(99)
  const blocks = new BlockMap()
  const t = Mst.create(blocks)
  const keys: string[] = []
  for (let i = 0; i < 1500; i++) {
    const k = randomKey(rand)
    if (keys.includes(k)) continue
    t.add(k, valueCid(i))
    keys.push(k)
  }
  persist(t, blocks)
  const loaded = Mst.load(blocks, t.rootCid())
  keys.sort()
  for (let trial = 0; trial < 200; trial++) {
    const col = COLLECTIONS[trial % COLLECTIONS.length]
    const prefix = trial % 3 === 0 ? `${col}/` : undefined
    const after = trial % 2 === 0 ? keys[Math.floor(rand() * keys.length)] : undefined
    const before = trial % 5 === 0 ? keys[Math.floor(rand() * keys.length)] : undefined
    const reverse = trial % 4 < 2
    const limit = 1 + Math.floor(rand() * 60)
    let expected = keys.filter(
      (k) =>
        (prefix === undefined || k.startsWith(prefix)) &&
        (after === undefined || k > after) &&
        (before === undefined || k < before),
    )
    if (reverse) expected = expected.reverse()
    expected = expected.slice(0, limit)
    const got = loaded.list({ prefix, after, before, reverse, limit }).map((e) => e.key)
    assert.deepEqual(got, expected, JSON.stringify({ prefix, after, before, reverse, limit }))
  }
})

test('MST: diff reports the created, updated and deleted keys and the same blocks as the reference', async () => {
  const rand = prng(5)
  const blocks = new BlockMap()
  const t = Mst.create(blocks)
  const refStore = new MemoryBlockstore()
  let ref = await MST.create(refStore)
  const keys: string[] = []
  for (let i = 0; i < 800; i++) {
    const k = randomKey(rand)
    if (keys.includes(k)) continue
    t.add(k, valueCid(i))
    ref = await ref.add(k, toRefCid(valueCid(i)))
    keys.push(k)
  }
  persist(t, blocks)
  const before = t.root
  const refBefore = ref
  const created: string[] = []
  const updated: string[] = []
  const deleted: string[] = []
  for (let i = 0; i < 30; i++) {
    const k = randomKey(rand)
    t.add(k, valueCid(10_000 + i))
    ref = await ref.add(k, toRefCid(valueCid(10_000 + i)))
    created.push(k)
  }
  for (let i = 0; i < 20; i++) {
    const k = keys[i * 3]
    t.update(k, valueCid(20_000 + i))
    ref = await ref.update(k, toRefCid(valueCid(20_000 + i)))
    updated.push(k)
  }
  for (let i = 0; i < 20; i++) {
    const k = keys[i * 3 + 1]
    t.delete(k)
    ref = await ref.delete(k)
    deleted.push(k)
  }
  const diff = diffTrees(t.store, before, t.root)
  assert.deepEqual(diff.creates.map((c) => c.key).sort(), created.sort())
  assert.deepEqual(diff.updates.map((c) => c.key).sort(), updated.sort())
  assert.deepEqual(diff.deletes.map((c) => c.key).sort(), deleted.sort())
  const { DataDiff } = await import('@atproto/repo')
  const refDiff = await DataDiff.of(ref, refBefore)
  const refNew = refDiff.newMstBlocks.entries().map((e: { cid: { toString(): string } }) => e.cid.toString()).sort()
  assert.deepEqual(diff.newBlocks.cids().map((c) => c.$link).sort(), refNew)
  const refRemoved = refDiff.removedCids.toList().map((c: { toString(): string }) => c.toString()).sort()
  // The reference also counts the records that left the tree among removed CIDs.
  const goneLeaves = [...diff.deletes, ...diff.updates].map((d) => d.prev.$link)
  const withLeaves = (nodes: Cid[]) => [...new Set([...nodes.map((c) => c.$link), ...goneLeaves])].sort()
  assert.deepEqual(withLeaves(diff.removedCids), refRemoved)
  // The write path's own bookkeeping (changes()) agrees with the diff.
  const changes = t.changes()
  assert.deepEqual(changes.newBlocks.cids().map((c) => c.$link).sort(), refNew)
  assert.deepEqual(withLeaves(changes.removed), refRemoved)
  // Diff against the empty tree lists every key as created.
  assert.equal(diffTrees(t.store, null, t.root).creates.length, keys.length + created.length - deleted.length)
})

test('MST: record path proofs match the reference cidsForPath, for present and absent keys', async () => {
  const rand = prng(11)
  const blocks = new BlockMap()
  const t = Mst.create(blocks)
  let ref = await MST.create(new MemoryBlockstore())
  const keys: string[] = []
  for (let i = 0; i < 500; i++) {
    const k = randomKey(rand)
    if (keys.includes(k)) continue
    t.add(k, valueCid(i))
    ref = await ref.add(k, toRefCid(valueCid(i)))
    keys.push(k)
  }
  t.rootCid()
  for (const key of [...keys.slice(0, 40), ...Array.from({ length: 40 }, () => randomKey(rand))]) {
    const ours = pathNodes(t.store, t.root, key).cids().map((c) => c.$link)
    const theirs: string[] = (await ref.cidsForPath(key)).map((c: { toString(): string }) => c.toString())
    // The reference appends the record CID when the key is present.
    const refNodes = keys.includes(key) ? theirs.slice(0, -1) : theirs
    assert.deepEqual(ours, refNodes, key)
  }
})

test('MST: stored trees reload identically and nodes are validated on load', () => {
  const rand = prng(3)
  const blocks = new BlockMap()
  const t = Mst.create(blocks)
  for (let i = 0; i < 300; i++) t.add(randomKey(rand), valueCid(i))
  const root = persist(t, blocks)
  const store = new NodeStore(blocks)
  const loaded = Mst.load(store, root)
  assert.deepEqual(
    [...loaded.entries()].map((e) => e.key),
    [...t.entries()].map((e) => e.key),
  )
  // changes() of an untouched stored tree is empty.
  const c = loaded.changes()
  assert.equal(c.newBlocks.size, 0)
  assert.equal(c.removed.length, 0)
})

test('MST node decoding rejects malformed nodes with a clear error', () => {
  const v = valueCid(1)
  const k = (s: string) => new TextEncoder().encode(s)
  const { BytesWrapper } = awaitBytes()
  const good = encodeCbor({ e: [{ k: new BytesWrapper(k('a/b')), p: 0, t: null, v }], l: null })
  assert.equal(decodeNode(good, 0, null).entries.length, 1)
  const cases: Record<string, Uint8Array> = {
    'not a map': encodeCbor([1, 2]),
    'missing e': encodeCbor({ l: null }),
    'extra field': encodeCbor({ e: [], l: null, x: 1 }),
    'keys out of order': encodeCbor({
      e: [
        { k: new BytesWrapper(k('a/c')), p: 0, t: null, v },
        { k: new BytesWrapper(k('b')), p: 2, t: null, v },
      ],
      l: null,
    }),
    'duplicate key': encodeCbor({
      e: [
        { k: new BytesWrapper(k('a/c')), p: 0, t: null, v },
        { k: new BytesWrapper(k('')), p: 3, t: null, v },
      ],
      l: null,
    }),
    'prefix beyond previous key': encodeCbor({
      e: [
        { k: new BytesWrapper(k('a/c')), p: 0, t: null, v },
        { k: new BytesWrapper(k('d')), p: 9, t: null, v },
      ],
      l: null,
    }),
    'first prefix not zero': encodeCbor({ e: [{ k: new BytesWrapper(k('a/c')), p: 1, t: null, v }], l: null }),
    'value not a CID': encodeCbor({ e: [{ k: new BytesWrapper(k('a/c')), p: 0, t: null, v: 'x' }], l: null }),
    'key not bytes': encodeCbor({ e: [{ k: 'a/c', p: 0, t: null, v }], l: null }),
    'invalid key': encodeCbor({ e: [{ k: new BytesWrapper(k('nokey')), p: 0, t: null, v }], l: null }),
    'non-canonical CBOR (unsorted map keys)': (() => {
      // {"l": null, "e": []} with keys in the wrong order: a2 61 6c f6 61 65 80
      return new Uint8Array([0xa2, 0x61, 0x6c, 0xf6, 0x61, 0x65, 0x80])
    })(),
    'non-canonical CBOR (long-form integer)': new Uint8Array([
      0xa2, 0x61, 0x65, 0x81, 0xa4, 0x61, 0x6b, 0x43, 0x61, 0x2f, 0x62, 0x61, 0x70, 0x18, 0x00,
    ]),
    truncated: good.subarray(0, good.length - 3),
  }
  for (const [name, bytes] of Object.entries(cases)) {
    assert.throws(() => decodeNode(bytes, 0, null), MstNodeError, name)
  }
})

function awaitBytes() {
  // BytesWrapper comes from the CBOR layer Hearth uses.
  return { BytesWrapper: BytesWrapperRef }
}
import { BytesWrapper as BytesWrapperRef } from '../../src/repo/cbor.ts'

test('MST: key heights are spread as fanout 4 predicts', () => {
  let atZero = 0
  for (let i = 0; i < 4000; i++) if (keyHeight(`com.example.record/${i}`) === 0) atZero++
  // 3/4 of keys sit at layer 0; allow generous slack.
  assert.ok(atZero > 2800 && atZero < 3200, `${atZero}`)
})

void fromRefCid

test('MST: the direct node encoder writes exactly what the generic DAG-CBOR encoder writes', () => {
  const rand = prng(77)
  const t = Mst.create(new BlockMap())
  for (let i = 0; i < 2000; i++) t.add(randomKey(rand), valueCid(i))
  t.rootCid()
  const enc = new TextEncoder()
  let checked = 0
  const visit = (node: MstNode) => {
    // The wire form built independently: leftmost subtree, then leaves with prefix-compressed
    // keys and their right subtrees, through the generic encoder.
    const entries = node.entries
    let i = 0
    let l: Cid | null = null
    if (entries[0] instanceof SubRef) {
      l = entries[0].cid
      i = 1
    }
    const e: unknown[] = []
    let prev = ''
    for (; i < entries.length; i++) {
      const leaf = entries[i] as Leaf
      let right: Cid | null = null
      if (entries[i + 1] instanceof SubRef) right = (entries[++i] as SubRef).cid
      let p = 0
      while (p < prev.length && p < leaf.key.length && prev[p] === leaf.key[p]) p++
      e.push({ k: new BytesWrapperRef(enc.encode(leaf.key.slice(p))), p, t: right, v: leaf.value })
      prev = leaf.key
    }
    assert.deepEqual(encodeNode(node), encodeCbor({ e, l }))
    checked++
    for (const x of entries) if (x instanceof SubRef && x.node) visit(x.node)
  }
  visit(t.root)
  assert.ok(checked > 100)
})
