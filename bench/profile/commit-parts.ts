// `node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 --import tsx
//  bench/profile/commit-parts.ts [iterations] [rounds]`: pieces of a commit alone, without I/O, on
// a repo of 2,000 posts built in memory: CPU per call (process.cpuUsage) and bytes allocated
// per call (young-generation growth, no collection during a round; a floor, as in
// commit-alloc.ts). HEARTH_TREE names another checkout to load the code from.
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getHeapSpaceStatistics } from 'node:v8'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const N = Number(process.argv[2] ?? 3000)
const R = Number(process.argv[3] ?? 3)
const load = (p: string) => import(join(ROOT, p))
const { BlockMap } = await load('src/repo/block-map.ts')
const { buildCommit, prepareWrite } = await load('src/repo/commit-builder.ts')
const { encodeCommit, signCommit } = await load('src/repo/commit.ts')
const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')
const { Mst } = await load('src/repo/mst/index.ts')
const { commitEvent } = await load('src/sequencer/events.ts')
const { coveringProof } = await load('src/repo/mst/proof.ts')

const did = 'did:plc:benchparts00000000000000'
const keypair = Secp256k1Keypair.create()
const blocks = new BlockMap()
let tree = Mst.create(blocks)
let head = { did, commitCid: null, rev: null } as { did: string; commitCid: unknown; rev: string | null }
let k = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `post ${k}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() })
const write = () => prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: `3k${String(k++).padStart(11, 'a')}`, record: post() })
for (let i = 0; i < 2000; i++) {
  const c = buildCommit(head, tree, [write()], keypair)
  blocks.addMap(c.newBlocks)
  c.tree.markStored()
  tree = c.tree
  head = { did, commitCid: c.cid, rev: c.rev }
}
const sample = buildCommit(head, tree, [write()], keypair)
const unsigned = { did, version: 3, data: sample.data, rev: sample.rev, prev: null }
let sink = 0
const PARTS: Array<[string, () => void]> = [
  ['buildCommit (1 create)', () => { sink += buildCommit(head, tree, [write()], keypair).bytes.length }],
  ['prepareWrite (record)', () => { sink += write().block.bytes.length }],
  ['MST clone + add', () => { const t = tree.clone(); t.add(`app.bsky.feed.post/3k${String(k++).padStart(11, 'a')}`, sample.data); sink += t.root.entries.length }],
  ['MST clone + add + changes', () => { const t = tree.clone(); t.add(`app.bsky.feed.post/3k${String(k++).padStart(11, 'a')}`, sample.data); sink += t.changes().newBlocks.size }],
  ['coveringProof', () => { sink += coveringProof(sample.tree.store, sample.tree.root, sample.ops[0].path).size }],
  ['sign + encode commit', () => { sink += encodeCommit(signCommit(unsigned, keypair)).bytes.length }],
  ['commitEvent', () => { sink += commitEvent(sample).event.length }],
  ['iterate newBlocks', () => { for (const [, b] of sample.newBlocks) sink += b.length }],
]
// PART=<name prefix> runs only the matching parts (e.g. under --heap-prof: with no collection
// during the rounds, its profile holds every sampled allocation, not only what survived).
if (process.env.PART) PARTS.splice(0, PARTS.length, ...PARTS.filter(([name]) => name.startsWith(process.env.PART as string)))
const young = () => {
  let n = 0
  for (const sp of getHeapSpaceStatistics()) if (sp.space_name === 'new_space' || sp.space_name === 'new_large_object_space') n += sp.space_used_size
  return n
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
for (const [, fn] of PARTS) for (let i = 0; i < 300; i++) fn()
for (let r = 0; r < R; r++) {
  for (const [name, fn] of PARTS) {
    gc()
    const h0 = young()
    const t0 = process.cpuUsage()
    for (let i = 0; i < N; i++) fn()
    const t = process.cpuUsage(t0)
    const h1 = young()
    console.log(`${name.padEnd(24)} ${(((t.user + t.system) / N)).toFixed(1).padStart(6)} µs  ${((h1 - h0) / N).toFixed(0).padStart(6)} B`)
  }
}
if (sink === 42) console.log('')
