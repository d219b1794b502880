// MST benchmarks, Hearth beside @atproto/repo in the same process on the same keys.
import { DataDiff, MemoryBlockstore, MST } from '@atproto/repo'
import { BlockMap } from '../src/repo/block-map.ts'
import { encodeCbor } from '../src/repo/cbor.ts'
import { type Cid, cidForCbor } from '../src/repo/cid.ts'
import { buildTree, diffTrees, Mst } from '../src/repo/mst/index.ts'
import { toRefCid } from '../test/helpers/reference.ts'
import { now, type Row } from './harness.ts'

const N = Number(process.env.BENCH_MST_SIZE ?? 100_000)

function keys(n: number, salt: string): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    // TID-like rkeys: what a real repo holds.
    const rkey = (1_700_000_000_000_000 + i * 7919).toString(32).padStart(13, '2').slice(-13)
    out.push(`app.bsky.feed.post/${salt}${rkey}`)
  }
  return out
}

export async function mstBenchmarks(): Promise<Row[]> {
  const rows: Row[] = []
  const base = keys(N, 'a').sort()
  const value: Cid = cidForCbor(encodeCbor({ text: 'hello' }))
  const refValue = toRefCid(value)
  const sorted = base.map((key) => ({ key, value }))

  // Build from sorted entries.
  let t0 = now()
  const built = Mst.fromNode(new BlockMap(), buildTree(sorted))
  const builtRoot = built.rootCid()
  const hearthBuildMs = now() - t0
  const refStore = new MemoryBlockstore()
  t0 = now()
  let ref = await MST.create(refStore)
  for (const key of base) ref = await ref.add(key, refValue)
  const refRoot = await ref.getPointer()
  const refBuildMs = now() - t0
  if (refRoot.toString() !== builtRoot.$link) throw new Error('build: roots differ')
  rows.push({ name: `mst_build_${N / 1000}k`, hearth: hearthBuildMs, reference: refBuildMs, unit: 'ms', higherIsBetter: false })

  // Inserts into the big tree, each followed by its root CID and new blocks, as a commit needs.
  const blocks = new BlockMap()
  const tree = Mst.fromNode(blocks, built.root)
  blocks.addMap(tree.changes().newBlocks)
  tree.markStored()
  const refTreeStore = new MemoryBlockstore()
  const { blocks: refBlocks } = await ref.getUnstoredBlocks()
  await refTreeStore.putMany(refBlocks)
  let refTree = await MST.load(refTreeStore, refRoot)
  const extra = keys(2000, 'b')
  const INS = 2000
  t0 = now()
  for (let i = 0; i < INS; i++) {
    tree.add(extra[i], value)
    const c = tree.changes()
    blocks.addMap(c.newBlocks)
    tree.markStored()
  }
  const hearthIns = (INS * 1000) / (now() - t0)
  const REF_INS = 300
  t0 = now()
  for (let i = 0; i < REF_INS; i++) {
    refTree = await refTree.add(extra[i], refValue)
    await refTree.getPointer()
    const unstored = await refTree.getUnstoredBlocks()
    await refTreeStore.putMany(unstored.blocks)
  }
  const refIns = (REF_INS * 1000) / (now() - t0)
  rows.push({ name: `mst_insert_into_${N / 1000}k`, hearth: hearthIns, reference: refIns, unit: 'ops/s', higherIsBetter: true })

  // Diff after 100 edits on the big tree.
  const before = tree.root
  const refBefore = refTree
  for (let i = 0; i < 100; i++) {
    tree.add(`app.bsky.feed.like/c${i.toString().padStart(10, '0')}`, value)
    refTree = await refTree.add(`app.bsky.feed.like/c${i.toString().padStart(10, '0')}`, refValue)
  }
  tree.rootCid()
  await refTree.getPointer()
  const D = 200
  t0 = now()
  for (let i = 0; i < D; i++) diffTrees(tree.store, before, tree.root)
  const hearthDiff = (D * 1000) / (now() - t0)
  const RD = 50
  t0 = now()
  for (let i = 0; i < RD; i++) await DataDiff.of(refTree, refBefore)
  const refDiff = (RD * 1000) / (now() - t0)
  rows.push({ name: `mst_diff_100_edits_${N / 1000}k`, hearth: hearthDiff, reference: refDiff, unit: 'ops/s', higherIsBetter: true })
  return rows
}
