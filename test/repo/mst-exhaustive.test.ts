// Every transition between every pair of small trees, checked block by block against the
// reference implementation and against the trees themselves.
//
// The trees are all subsets of a few keys chosen for their layers (0 to 3), so the set covers
// roots that grow and shrink by several layers, lone-subtree chains, splits and merges. For each
// ordered pair A → B the transition is computed the two ways Hearth computes one: the commit
// builder applying the writes (in two orders, on a tree loaded from a store and on one kept in
// memory after the previous commit), and the tree diff that importRepo uses. Their new and
// removed blocks must equal @atproto/repo's, and a store holding exactly A's blocks must hold
// exactly B's once the change is applied: nothing orphaned, nothing missing.
//
// HEARTH_MST_EXHAUSTIVE_KEYS=7, 8 or 9 runs larger key sets (4x the pairs per key); the default
// of 6 keys (4,096 pairs) takes seconds.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Secp256k1Keypair as RefKeypair } from '@atproto/crypto'
import { DataDiff, MemoryBlockstore, MST, Repo, WriteOpAction } from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { decodeCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor } from '../../src/repo/cid.ts'
import { buildCommit, type CommitData, type PreparedWrite, type RepoHead } from '../../src/repo/commit-builder.ts'
import { encodeCommit, signCommit } from '../../src/repo/commit.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { buildTree, diffTrees, keyHeight, Mst, NodeStore } from '../../src/repo/mst/index.ts'
import { toRefCid } from '../helpers/reference.ts'

// The default six in key order have layers 0 2 1 3 0 2: a layer-3 key between layer-2 ones,
// a layer-1 key below them, layer-0 keys at both ends. Larger runs add keys at layers 0 and 1.
const ALL_KEYS: Array<[string, number]> = [
  ['k/00', 0],
  ['k/01', 2],
  ['k/02', 1],
  ['k/27', 3],
  ['k/38', 0],
  ['k/39', 2],
  ['k/04', 0],
  ['k/48', 1],
  ['k/99', 0],
]
const KEY_COUNT = Math.min(ALL_KEYS.length, Math.max(6, Number(process.env.HEARTH_MST_EXHAUSTIVE_KEYS ?? 6)))
const KEYS = ALL_KEYS.slice(0, KEY_COUNT).map(([k]) => k).sort()
const KEY_INDEX = new Map(KEYS.map((k, i) => [k, i]))
const maskOf = (...keys: string[]) => keys.reduce((m, k) => m | (1 << (KEY_INDEX.get(k) as number)), 0)
const SUBSETS = 1 << KEY_COUNT
const DID = 'did:plc:exhaustivemsttest00'
const COLLECTION = 'k'

const keypair = Secp256k1Keypair.create()

/** Record blocks: variant 0 is a key's value in A, variant 1 its updated value in B. */
const records = new Map<string, { cid: Cid; bytes: Uint8Array; record: Record<string, unknown> }>()
function recordOf(key: string, variant: number) {
  const id = `${key}#${variant}`
  let r = records.get(id)
  if (!r) {
    const record = { $type: 'com.example.exhaustive', key, variant }
    const bytes = encodeCbor(record)
    r = { cid: cidForCbor(bytes), bytes, record }
    records.set(id, r)
  }
  return r
}

interface TreeCase {
  mask: number
  /** Keys of the tree holding their variant-1 value. */
  updated: number
  keys: string[]
  root: Cid
  /** Every MST node block of the tree. */
  nodes: BlockMap
  /** The record blocks its leaves point at. */
  leaves: BlockMap
  ref: MST
}

// Every node block of every tree, for diffs that read both trees through one source.
const everyNode = new BlockMap()
const refStorage = new MemoryBlockstore()
const trees = new Map<string, TreeCase>()

async function treeOf(mask: number, updated: number): Promise<TreeCase> {
  const id = `${mask}:${updated}`
  const hit = trees.get(id)
  if (hit) return hit
  const keys = KEYS.filter((_, i) => mask & (1 << i))
  const leaves = new BlockMap()
  const entries = keys.map((key) => {
    const r = recordOf(key, updated & (1 << (KEY_INDEX.get(key) as number)) ? 1 : 0)
    leaves.set(r.cid, r.bytes)
    return { key, value: r.cid }
  })
  const tree = Mst.fromNode(everyNode, buildTree(entries))
  const nodes = tree.allNodeBlocks()
  everyNode.addMap(nodes)
  let ref = await MST.create(refStorage)
  for (const e of entries) ref = await ref.add(e.key, toRefCid(e.value))
  const root = tree.rootCid()
  assert.equal((await ref.getPointer()).toString(), root.$link, `root of ${keys.join(',')}`)
  const t: TreeCase = { mask, updated, keys, root, nodes, leaves, ref }
  trees.set(id, t)
  return t
}

/** Which of the keys A and B share get a new value in B: varied across pairs, deterministic. */
function updatesFor(a: number, b: number): number {
  let h = Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 7, 0x85ebca6b)
  h ^= h >>> 15
  return a & b & h
}

interface Expected {
  /** MST node blocks B has and A lacks, per @atproto/repo. */
  newNodes: string[]
  /** Blocks of B's new record values, per @atproto/repo. */
  newLeaves: string[]
  /** Node and record CIDs A has and B no longer uses, per @atproto/repo. */
  removed: string[]
  creates: string[]
  updates: string[]
  deletes: string[]
}

const links = (cids: Iterable<Cid>) => [...cids].map((c) => c.$link).sort()
const strs = (cids: Iterable<{ toString(): string }>) => [...cids].map((c) => c.toString()).sort()

// The reference diff is the slow part of every check: each pair's is computed once.
const expectedCache = new Map<string, Expected>()

async function expected(A: TreeCase | null, B: TreeCase): Promise<Expected> {
  const id = A ? `${A.mask}:${A.updated}>${B.mask}:${B.updated}` : `>${B.mask}:${B.updated}`
  let e = expectedCache.get(id)
  if (!e) expectedCache.set(id, (e = await referenceDiff(A, B)))
  return e
}

async function referenceDiff(A: TreeCase | null, B: TreeCase): Promise<Expected> {
  const diff = await DataDiff.of(B.ref, A ? A.ref : null)
  return {
    newNodes: strs(diff.newMstBlocks.cids()),
    newLeaves: strs(diff.newLeafCids.toList()),
    removed: strs(diff.removedCids.toList()),
    creates: diff.addList().map((x) => x.key).sort(),
    updates: diff.updateList().map((x) => x.key).sort(),
    deletes: diff.deleteList().map((x) => x.key).sort(),
  }
}

function setMinus(a: BlockMap, b: BlockMap): string[] {
  return a.cids().filter((c) => !b.has(c)).map((c) => c.$link).sort()
}

/** Collects failing cases by kind, to report how many failed and a few examples of each. */
class Failures {
  private readonly byKind = new Map<string, { count: number; examples: string[] }>()
  total = 0
  cases = 0

  check(kind: string, ok: boolean, example: () => string): void {
    if (ok) return
    this.total++
    let k = this.byKind.get(kind)
    if (!k) this.byKind.set(kind, (k = { count: 0, examples: [] }))
    k.count++
    if (k.examples.length < 3) k.examples.push(example())
  }

  assertNone(): void {
    const lines = [...this.byKind].map(([kind, k]) => `${kind}: ${k.count} of ${this.cases} cases, e.g.\n    ${k.examples.join('\n    ')}`)
    assert.equal(this.total, 0, `\n${lines.join('\n')}`)
  }
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i])
const describe = (A: TreeCase | null, B: TreeCase) => {
  const show = (t: TreeCase) => `{${t.keys.map((k) => (t.updated & (1 << (KEY_INDEX.get(k) as number)) ? `${k}'` : k)).join(', ')}}`
  return `${A ? show(A) : 'none'} -> ${show(B)}`
}

/** Every ordered pair (A, B) with B's shared keys updated per updatesFor. */
async function* pairs(): AsyncGenerator<[TreeCase, TreeCase]> {
  for (let a = 0; a < SUBSETS; a++) {
    const A = await treeOf(a, 0)
    for (let b = 0; b < SUBSETS; b++) yield [A, await treeOf(b, updatesFor(a, b))]
  }
}

test(`MST exhaustive: the chosen keys sit at layers 0 to 3 (${KEY_COUNT} keys, ${SUBSETS} trees)`, () => {
  for (const [key, layer] of ALL_KEYS) assert.equal(keyHeight(key), layer, key)
  assert.ok(new Set(ALL_KEYS.slice(0, KEY_COUNT).map(([, l]) => l)).size >= 3)
})

test('MST exhaustive: the reference diff is exactly the difference of the two trees\u2019 blocks', async () => {
  // If this did not hold, matching the reference and keeping the store exact would conflict.
  const f = new Failures()
  for await (const [A, B] of pairs()) {
    f.cases++
    const e = await expected(A, B)
    f.check('new nodes', same(e.newNodes, setMinus(B.nodes, A.nodes)), () => describe(A, B))
    const gone = [...setMinus(A.nodes, B.nodes), ...setMinus(A.leaves, B.leaves)].sort()
    f.check('removed', same(e.removed, gone), () => describe(A, B))
  }
  f.assertNone()
})

test('MST exhaustive: the import diff gives the reference blocks and keys, and moves a store from A to exactly B', async () => {
  const f = new Failures()
  const store = new NodeStore(everyNode, { validateKeys: false })
  // From no repo at all (an account whose repo does not exist yet).
  for (let b = 0; b < SUBSETS; b++) {
    const B = await treeOf(b, 0)
    f.cases++
    const e = await expected(null, B)
    const d = diffTrees(store, null, store.loadRoot(B.root))
    f.check('from nothing: new nodes', same(links(d.newBlocks.cids()), e.newNodes), () => describe(null, B))
    f.check('from nothing: new nodes are the tree', same(links(d.newBlocks.cids()), links(B.nodes.cids())), () => describe(null, B))
    f.check('from nothing: creates', same(d.creates.map((c) => c.key).sort(), e.creates), () => describe(null, B))
  }
  for await (const [A, B] of pairs()) {
    f.cases++
    const e = await expected(A, B)
    const d = diffTrees(store, store.loadRoot(A.root), store.loadRoot(B.root))
    const ex = () => describe(A, B)
    f.check('new nodes', same(links(d.newBlocks.cids()), e.newNodes), ex)
    const leavesGone = [...d.deletes, ...d.updates].map((x) => x.prev)
    f.check('removed', same(links([...d.removedCids, ...leavesGone]), e.removed), ex)
    f.check('creates', same(d.creates.map((c) => c.key).sort(), e.creates), ex)
    f.check('updates', same(d.updates.map((c) => c.key).sort(), e.updates), ex)
    f.check('deletes', same(d.deletes.map((c) => c.key).sort(), e.deletes), ex)
    const held = new BlockMap().addMap(A.nodes).addMap(d.newBlocks)
    for (const cid of d.removedCids) held.delete(cid)
    f.check('store after the diff is B', same(links(held.cids()), links(B.nodes.cids())), ex)
  }
  f.assertNone()
})

// ---- the commit builder ----

const commits = new Map<string, { cid: Cid; bytes: Uint8Array; rev: string }>()
const REV0 = '2222222222222'

/** A signed commit over A, as the store of an account whose repo is A holds it. */
function headCommit(A: TreeCase) {
  let c = commits.get(A.root.$link)
  if (!c) {
    const enc = encodeCommit(signCommit({ did: DID, version: 3, data: A.root, rev: REV0, prev: null }, keypair))
    c = { cid: enc.cid, bytes: enc.bytes, rev: REV0 }
    commits.set(A.root.$link, c)
  }
  return c
}

/** A store holding exactly the blocks of A's repo: its nodes, its records, its commit. */
function storeOf(A: TreeCase): { blocks: BlockMap; head: RepoHead } {
  const c = headCommit(A)
  const blocks = new BlockMap().addMap(A.nodes).addMap(A.leaves).set(c.cid, c.bytes)
  return { blocks, head: { did: DID, commitCid: c.cid, rev: c.rev } }
}

type Order = 'deletes, creates, updates' | 'creates, updates, deletes'

function writesFor(A: TreeCase, B: TreeCase, order: Order): PreparedWrite[] {
  const deletes: PreparedWrite[] = []
  const creates: PreparedWrite[] = []
  const updates: PreparedWrite[] = []
  for (let i = 0; i < KEY_COUNT; i++) {
    const bit = 1 << i
    const rkey = KEYS[i].slice(COLLECTION.length + 1)
    const inA = (A.mask & bit) !== 0
    const inB = (B.mask & bit) !== 0
    const r = recordOf(KEYS[i], B.updated & bit ? 1 : 0)
    const block = { cid: r.cid, bytes: r.bytes }
    if (inA && !inB) deletes.push({ action: 'delete', collection: COLLECTION, rkey })
    else if (!inA && inB) creates.push({ action: 'create', collection: COLLECTION, rkey, block })
    else if (inA && inB && (A.updated ^ B.updated) & bit) updates.push({ action: 'update', collection: COLLECTION, rkey, block })
  }
  // Keys in the second order go in descending order, so the edits also meet in other shapes.
  if (order === 'deletes, creates, updates') return [...deletes, ...creates, ...updates]
  return [...creates.reverse(), ...updates.reverse(), ...deletes.reverse()]
}

/** Applies a commit to a block store as the actor store does. */
function applyTo(blocks: BlockMap, commit: CommitData, B: TreeCase): void {
  for (const [cid, bytes] of commit.newBlocks) blocks.set(cid, bytes)
  for (const cid of commit.removedCids) blocks.delete(cid)
  for (const cid of commit.removedRecordCids) if (!B.leaves.has(cid)) blocks.delete(cid)
}

function checkCommit(f: Failures, label: string, A: TreeCase, B: TreeCase, e: Expected, commit: CommitData, prevCommit: Cid, blocks: BlockMap): void {
  const ex = () => describe(A, B)
  f.check(`${label}: root`, commit.data.$link === B.root.$link, ex)
  const newNodes = commit.newBlocks.cids().filter((c) => c.$link !== commit.cid.$link && !B.leaves.has(c))
  const newLeaves = commit.newBlocks.cids().filter((c) => B.leaves.has(c))
  f.check(`${label}: new nodes`, same(links(newNodes), e.newNodes), ex)
  f.check(`${label}: new records`, same(links(newLeaves), e.newLeaves), ex)
  f.check(`${label}: the new commit is a new block`, commit.newBlocks.has(commit.cid), ex)
  const removed = commit.removedCids.filter((c) => c.$link !== prevCommit.$link)
  f.check(`${label}: removed`, same(links([...removed, ...commit.removedRecordCids]), e.removed), ex)
  f.check(`${label}: the previous commit is removed`, commit.removedCids.some((c) => c.$link === prevCommit.$link), ex)
  applyTo(blocks, commit, B)
  const want = [...links(B.nodes.cids()), ...links(B.leaves.cids()), commit.cid.$link].sort()
  const have = links(blocks.cids())
  f.check(`${label}: store after the commit is B`, same(have, want), () => {
    const orphans = have.filter((x) => !want.includes(x)).length
    const missing = want.filter((x) => !have.includes(x)).length
    return `${ex()} (${orphans} orphaned, ${missing} missing)`
  })
}

for (const order of ['deletes, creates, updates', 'creates, updates, deletes'] as Order[]) {
  test(`MST exhaustive: commits applying ${order} give the reference blocks and move a store from A to exactly B`, async () => {
    const f = new Failures()
    for await (const [A, B] of pairs()) {
      f.cases++
      const e = await expected(A, B)
      const { blocks, head } = storeOf(A)
      const tree = Mst.load(blocks, A.root)
      const commit = buildCommit(head, tree, writesFor(A, B, order), keypair)
      checkCommit(f, 'loaded tree', A, B, e, commit, head.commitCid as Cid, blocks)
      if (order !== 'deletes, creates, updates') continue
      // The write path keeps the committed tree in memory: the next commit starts from it.
      commit.tree.markStored()
      const back = buildCommit({ did: DID, commitCid: commit.cid, rev: commit.rev }, commit.tree, writesFor(B, A, order), keypair)
      const eBack = await expected(B, A)
      checkCommit(f, 'tree kept after a commit', B, A, eBack, back, commit.cid, blocks)
    }
    f.assertNone()
  })
}

test('MST exhaustive: Repo.formatCommit of @atproto/repo agrees with the diff these checks expect', async () => {
  // The checks above take the reference's DataDiff of the two trees as its commit's blocks;
  // confirm that on a spread of pairs against whole reference commits. The reference's own
  // edits can leave a non-canonical root (a tree emptied by deletes keeps its old layer, and a
  // later create hangs below a wrapper node), so its writes go creates first, and a commit whose
  // root is not B's canonical root is left out (and counted, so this cannot pass vacuously).
  const refKeypair = await RefKeypair.create()
  let compared = 0
  let offCanonical = 0
  for await (const [A, B] of pairs()) {
    if ((A.mask * SUBSETS + B.mask) % 37 !== 0) continue
    const toRef = (w: PreparedWrite) => {
      if (w.action === 'delete') return { action: WriteOpAction.Delete, collection: w.collection, rkey: w.rkey }
      const key = `${w.collection}/${w.rkey}`
      const record = recordOf(key, B.updated & (1 << (KEY_INDEX.get(key) as number)) ? 1 : 0).record
      return { action: w.action === 'create' ? WriteOpAction.Create : WriteOpAction.Update, collection: w.collection, rkey: w.rkey, record }
    }
    const initial = A.keys.map((key) => ({ action: WriteOpAction.Create, collection: COLLECTION, rkey: key.slice(COLLECTION.length + 1), record: recordOf(key, 0).record }))
    const repo = await Repo.create(new MemoryBlockstore(), DID, refKeypair, initial as never)
    const formatted = await repo.formatCommit(writesFor(A, B, 'creates, updates, deletes').map(toRef) as never, refKeypair)
    const data = formatted.newBlocks.get(formatted.cid) as Uint8Array
    if ((decodeCbor(data) as { data: Cid }).data.$link !== B.root.$link) {
      offCanonical++
      continue
    }
    compared++
    const e = await expected(A, B)
    const newBlocks = strs(formatted.newBlocks.cids()).filter((c) => c !== formatted.cid.toString())
    assert.deepEqual(newBlocks, [...e.newNodes, ...e.newLeaves].sort(), describe(A, B))
    const removed = strs(formatted.removedCids.toList()).filter((c) => c !== repo.cid.toString())
    assert.deepEqual(removed, e.removed, describe(A, B))
  }
  assert.ok(compared > 50 && offCanonical < compared / 4, `${compared} compared, ${offCanonical} off canonical`)
})

test('MST: deleting k/39 from {k/00, k/39} removes the single-subtree node the root steps over', async () => {
  // k/39 (layer 2) is the root's only key; k/00 (layer 0) hangs below it through a layer-1 node
  // holding nothing but that subtree. Deleting k/39 leaves k/00's node as the root, so both the
  // old root and the layer-1 node leave the store.
  const A = await treeOf(maskOf('k/00', 'k/39'), 0)
  const B = await treeOf(maskOf('k/00'), 0)
  assert.equal(A.nodes.size, 3)
  const { blocks, head } = storeOf(A)
  const commit = buildCommit(head, Mst.load(blocks, A.root), [{ action: 'delete', collection: COLLECTION, rkey: '39' }], keypair)
  assert.deepEqual(links(commit.removedCids.filter((c) => c.$link !== head.commitCid?.$link)), setMinus(A.nodes, B.nodes))
  assert.equal(setMinus(A.nodes, B.nodes).length, 2)
  assert.deepEqual(links(commit.newBlocks.cids()), [commit.cid.$link])
  applyTo(blocks, commit, B)
  assert.deepEqual(links(blocks.cids()), [...links(B.nodes.cids()), ...links(B.leaves.cids()), commit.cid.$link].sort())
})
