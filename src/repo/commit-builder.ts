// The pure part of a repo write: given the current tree and a batch of record writes, compute
// the next signed commit and everything storage and the firehose need from it. No I/O beyond
// the tree's block source; the caller persists the result in one transaction.
import { BlockMap } from './block-map.ts'
import { type EncodedBlock, encodeBlock } from './cbor.ts'
import { type Cid, cidEquals } from './cid.ts'
import { encodeCommit, signCommit } from './commit.ts'
import type { Keypair } from './crypto/keypair.ts'
import type { RepoOp } from './inversion.ts'
import { coveringProof } from './mst/proof.ts'
import { Mst, MstKeyExistsError, MstKeyNotFoundError } from './mst/tree.ts'
import type { TidClock } from './tid.ts'
import { defaultTidClock } from './tid.ts'

export type RecordWrite =
  | { action: 'create'; collection: string; rkey: string; record: unknown }
  | { action: 'update'; collection: string; rkey: string; record: unknown }
  | { action: 'delete'; collection: string; rkey: string }

/** A write with its record already encoded (e.g. to compute its CID for a response first). */
export type PreparedWrite =
  | { action: 'create' | 'update'; collection: string; rkey: string; block: EncodedBlock }
  | { action: 'delete'; collection: string; rkey: string }

export interface RepoHead {
  did: string
  /** Current commit CID and rev; null for a repo being created. */
  commitCid: Cid | null
  rev: string | null
}

export interface CommitData {
  did: string
  cid: Cid
  bytes: Uint8Array
  rev: string
  /** The previous commit's rev (null for the first commit). */
  since: string | null
  /** The previous commit's MST root (null for the first commit). */
  prevData: Cid | null
  /** The new MST root. */
  data: Cid
  /** Every block the store must add: new MST nodes, new records, the commit. */
  newBlocks: BlockMap
  /** MST nodes and the previous commit that the repo no longer uses. */
  removedCids: Cid[]
  /** Record CIDs that left the tree (the store deletes them only if no other record uses them). */
  removedRecordCids: Cid[]
  /** What a #commit event carries: proofs for every touched key, new records, the commit. */
  relevantBlocks: BlockMap
  ops: RepoOp[]
  /** The tree after the commit, not yet marked stored. */
  tree: Mst
}

export class WriteConflictError extends Error {
  constructor(
    message: string,
    readonly kind: 'exists' | 'missing',
  ) {
    super(message)
    this.name = 'WriteConflictError'
  }
}

export function prepareWrite(write: RecordWrite): PreparedWrite {
  if (write.action === 'delete') return write
  return { action: write.action, collection: write.collection, rkey: write.rkey, block: encodeBlock(write.record) }
}

/**
 * Applies writes to a copy of `tree` and signs the commit. `tree` itself is left unchanged, so
 * a failed batch needs no undo. Throws WriteConflictError for a create of an existing key or an
 * update/delete of a missing one.
 */
export function buildCommit(
  head: RepoHead,
  tree: Mst,
  writes: ReadonlyArray<PreparedWrite>,
  keypair: Keypair,
  clock: TidClock = defaultTidClock,
): CommitData {
  const next = tree.clone()
  const prevData = head.commitCid ? tree.rootCid() : null
  // New record blocks, added to newBlocks and relevantBlocks at the end (a list: no third map).
  const newRecords: EncodedBlock[] = []
  const ops: RepoOp[] = []
  const removedRecordCids: Cid[] = []
  try {
    for (const w of writes) {
      const path = `${w.collection}/${w.rkey}`
      if (w.action === 'create') {
        next.add(path, w.block.cid)
        newRecords.push(w.block)
        ops.push({ action: 'create', path, cid: w.block.cid })
      } else if (w.action === 'update') {
        const prev = next.get(path)
        if (!prev) throw new MstKeyNotFoundError(path)
        next.update(path, w.block.cid)
        newRecords.push(w.block)
        ops.push({ action: 'update', path, cid: w.block.cid, prev })
        if (!cidEquals(prev, w.block.cid)) removedRecordCids.push(prev)
      } else {
        const prev = next.get(path)
        if (!prev) throw new MstKeyNotFoundError(path)
        next.delete(path)
        ops.push({ action: 'delete', path, cid: null, prev })
        removedRecordCids.push(prev)
      }
    }
  } catch (err) {
    if (err instanceof MstKeyExistsError) throw new WriteConflictError(`record already exists: ${err.key}`, 'exists')
    if (err instanceof MstKeyNotFoundError) throw new WriteConflictError(`record not found: ${err.key}`, 'missing')
    throw err
  }
  const { root: data, newBlocks, removed } = next.changes()
  const rev = clock.nextAfter(head.rev)
  const commit = signCommit({ did: head.did, version: 3, data, rev, prev: null }, keypair)
  const encoded = encodeCommit(commit)

  const relevantBlocks = new BlockMap()
  for (const op of ops) coveringProof(next.store, next.root, op.path, relevantBlocks)
  for (const b of newRecords) relevantBlocks.set(b.cid, b.bytes)
  relevantBlocks.set(encoded.cid, encoded.bytes)
  for (const b of newRecords) newBlocks.set(b.cid, b.bytes)
  newBlocks.set(encoded.cid, encoded.bytes)
  const removedCids = removed.slice()
  if (head.commitCid && !cidEquals(head.commitCid, encoded.cid)) removedCids.push(head.commitCid)
  return {
    did: head.did,
    cid: encoded.cid,
    bytes: encoded.bytes,
    rev,
    since: head.rev,
    prevData,
    data,
    newBlocks,
    removedCids,
    removedRecordCids,
    relevantBlocks,
    ops,
    tree: next,
  }
}
