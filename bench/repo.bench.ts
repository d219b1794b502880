// Repo-level benchmarks: CAR export of a large repo and commit signing/verification, Hearth
// beside @atproto/repo in the same process.
import { Secp256k1Keypair as RefKeypair } from '@atproto/crypto'
import { getFullRepo, MemoryBlockstore, signCommit as refSignCommit, verifyCommitSig as refVerifyCommitSig } from '@atproto/repo'
import { BlockMap } from '../src/repo/block-map.ts'
import { writeCar } from '../src/repo/car/index.ts'
import { encodeBlock } from '../src/repo/cbor.ts'
import type { Cid } from '../src/repo/cid.ts'
import { decodeCommit, encodeCommit, signCommit, verifyCommitSig } from '../src/repo/commit.ts'
import { Secp256k1Keypair } from '../src/repo/crypto/index.ts'
import { repoBlocks } from '../src/repo/export.ts'
import { buildTree, Mst } from '../src/repo/mst/index.ts'
import { toRefCid } from '../test/helpers/reference.ts'
import { now, opsPerSec, type Row } from './harness.ts'

const N = Number(process.env.BENCH_REPO_SIZE ?? 100_000)
const DID = 'did:plc:benchbenchbenchbenchbench'

export async function repoBenchmarks(): Promise<Row[]> {
  const rows: Row[] = []
  const keypair = Secp256k1Keypair.create()
  const refKey = await RefKeypair.import(keypair.export())

  // A repo of N posts, built once and served to both exporters from memory.
  const blocks = new BlockMap()
  const entries: Array<{ key: string; value: Cid }> = []
  for (let i = 0; i < N; i++) {
    const rkey = (1_700_000_000_000_000 + i * 7919).toString(32).slice(-13)
    const block = encodeBlock({
      $type: 'app.bsky.feed.post',
      text: `benchmark post number ${i} with a little text`,
      createdAt: new Date(1_700_000_000_000 + i).toISOString(),
    })
    blocks.set(block.cid, block.bytes)
    entries.push({ key: `app.bsky.feed.post/${rkey}`, value: block.cid })
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : 1))
  const tree = Mst.fromNode(blocks, buildTree(entries))
  const { root, newBlocks } = tree.changes()
  blocks.addMap(newBlocks)
  const commit = encodeCommit(signCommit({ did: DID, version: 3, data: root, rev: '3l2222222222a', prev: null }, keypair))
  blocks.set(commit.cid, commit.bytes)
  const refStore = new MemoryBlockstore()
  const refBlocks = new (await import('@atproto/repo')).BlockMap()
  for (const [cid, bytes] of blocks) refBlocks.set(toRefCid(cid), bytes)
  await refStore.putMany(refBlocks)

  let bytes = 0
  let t0 = now()
  for await (const chunk of writeCar(commit.cid, repoBlocks(blocks, commit.cid))) bytes += chunk.length
  const hearthMs = now() - t0
  let refBytes = 0
  t0 = now()
  for await (const chunk of getFullRepo(refStore, toRefCid(commit.cid))) refBytes += chunk.length
  const refMs = now() - t0
  if (Math.abs(refBytes - bytes) > 1024) throw new Error(`export sizes differ: ${bytes} vs ${refBytes}`)
  const mb = bytes / 1e6
  rows.push({ name: `car_export_${N / 1000}k_records`, hearth: mb / (hearthMs / 1000), reference: mb / (refMs / 1000), unit: 'MB/s', higherIsBetter: true })

  // Signing and verifying commits.
  const unsigned = { did: DID, version: 3 as const, data: root, rev: '3l2222222222a', prev: null }
  const refUnsigned = { ...unsigned, data: toRefCid(root) }
  const hearthSign = await opsPerSec(() => encodeCommit(signCommit(unsigned, keypair)), 1, 800)
  const refSign = await opsPerSec(() => refSignCommit(refUnsigned, refKey), 1, 800)
  rows.push({ name: 'commit_sign', hearth: hearthSign, reference: refSign, unit: 'ops/s', higherIsBetter: true })
  const did = keypair.did()
  const refSigned = await refSignCommit(refUnsigned, refKey)
  const hearthVerify = await opsPerSec(() => {
    if (!verifyCommitSig(decodeCommit(commit.bytes), did)) throw new Error('verify failed')
  }, 1, 800)
  const refVerify = await opsPerSec(async () => {
    if (!(await refVerifyCommitSig(refSigned, did))) throw new Error('verify failed')
  }, 1, 800)
  rows.push({ name: 'commit_verify', hearth: hearthVerify, reference: refVerify, unit: 'ops/s', higherIsBetter: true })
  return rows
}
