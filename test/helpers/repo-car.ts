// Repo CARs with content a well-behaved PDS would never write (keys no write accepts, records
// no client could send), for import tests. The tree is built by the reference MST
// (@atproto/repo), which takes any key of MST syntax; record blocks are given as bytes, so they
// may be anything; the commit is signed with the account's own key, so only the content is wrong.
import { MemoryBlockstore, MST } from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { carToBytes } from '../../src/repo/car/index.ts'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor } from '../../src/repo/cid.ts'
import { encodeCommit, signCommit } from '../../src/repo/commit.ts'
import type { Keypair } from '../../src/repo/crypto/index.ts'
import { nextTid } from '../../src/repo/tid.ts'
import { fromRefCid, toRefCid } from './reference.ts'

export interface RawRecord {
  key: string
  /** The record block; default: a small valid record. */
  bytes?: Uint8Array
}

export interface RepoCar {
  car: Uint8Array
  root: Cid
  /** Every block of the CAR, by CID. */
  blocks: BlockMap
}

/** A signed repo of `did` holding exactly `records`, as CAR bytes. */
export async function repoCar(did: string, keypair: Keypair, records: RawRecord[]): Promise<RepoCar> {
  const blocks = new BlockMap()
  let mst = await MST.create(new MemoryBlockstore())
  for (const [i, r] of records.entries()) {
    const bytes = r.bytes ?? encodeCbor({ $type: r.key.slice(0, r.key.indexOf('/')), n: i })
    const cid = cidForCbor(bytes)
    blocks.set(cid, bytes)
    mst = await mst.add(r.key, toRefCid(cid))
  }
  const { root, blocks: nodes } = await mst.getUnstoredBlocks()
  nodes.forEach((bytes: Uint8Array, cid: { toString(): string }) => blocks.set(fromRefCid(cid), bytes))
  const commit = encodeCommit(signCommit({ did, version: 3, data: fromRefCid(root), rev: nextTid(), prev: null }, keypair))
  blocks.set(commit.cid, commit.bytes)
  return { car: carToBytes(commit.cid, blocks), root: commit.cid, blocks }
}

/** CBOR of a record `{ $type, v }` whose `v` is `depth` one-entry maps `{ a: … }` around 1. */
export function deepRecordBytes(type: string, depth: number): Uint8Array {
  const typeBytes = new TextEncoder().encode(type)
  if (typeBytes.length >= 24) throw new Error('type too long for this little encoder')
  const out: number[] = [0xa2, 0x61, 0x76] // map(2), "v" (shorter keys sort first)
  for (let i = 0; i < depth; i++) out.push(0xa1, 0x61, 0x61) // map(1), "a"
  out.push(0x01)
  out.push(0x65, ...new TextEncoder().encode('$type'), 0x60 + typeBytes.length, ...typeBytes)
  return new Uint8Array(out)
}
