// Firehose event bodies as the official PDS stores them in repo_seq.event: DAG-CBOR of the
// message without `seq` and `time` (those are added when a frame is sent).
import { BlockMap } from '../repo/block-map.ts'
import { carToBytes } from '../repo/car/index.ts'
import { BytesWrapper, encodeCbor } from '../repo/cbor.ts'
import type { Cid } from '../repo/cid.ts'
import type { CommitData } from '../repo/commit-builder.ts'

export type EventType = 'append' | 'sync' | 'identity' | 'account'

export type AccountStatus = 'active' | 'takendown' | 'suspended' | 'deleted' | 'deactivated'

export interface SeqEvent {
  did: string
  eventType: EventType
  event: Uint8Array
}

/** The #commit body: the commit, its ops (with `prev` for sync v1.1) and a CAR of the blocks. */
export function commitEvent(commit: Pick<CommitData, 'did' | 'cid' | 'rev' | 'since' | 'prevData' | 'ops' | 'newBlocks' | 'relevantBlocks'>): SeqEvent {
  const blocks = new BlockMap().addMap(commit.newBlocks).addMap(commit.relevantBlocks)
  const ops = commit.ops.map((op) => {
    const out: Record<string, unknown> = { action: op.action, path: op.path, cid: op.cid }
    if (op.prev) out.prev = op.prev
    return out
  })
  const body: Record<string, unknown> = {
    repo: commit.did,
    commit: commit.cid,
    rev: commit.rev,
    since: commit.since,
    blocks: carToBytes(commit.cid, blocks),
    ops,
    // deprecated but still required by the lexicon
    rebase: false,
    tooBig: false,
    blobs: [],
  }
  if (commit.prevData) body.prevData = commit.prevData
  return { did: commit.did, eventType: 'append', event: encodeCbor(wrapBytes(body)) }
}

/** #sync: the repo's state was reset (creation, import, activation); carries the commit block. */
export function syncEvent(did: string, rev: string, commitCid: Cid, commitBytes: Uint8Array): SeqEvent {
  const blocks = carToBytes(commitCid, [[commitCid, commitBytes]])
  return { did, eventType: 'sync', event: encodeCbor(wrapBytes({ did, rev, blocks })) }
}

export function identityEvent(did: string, handle?: string | null): SeqEvent {
  const body: Record<string, unknown> = { did }
  if (handle) body.handle = handle
  return { did, eventType: 'identity', event: encodeCbor(body) }
}

export function accountEvent(did: string, status: AccountStatus): SeqEvent {
  const body: Record<string, unknown> = { did, active: status === 'active' }
  if (status !== 'active') body.status = status
  return { did, eventType: 'account', event: encodeCbor(body) }
}


/** The CBOR encoder writes bytes only from a BytesWrapper: wrap the `blocks` CAR. */
function wrapBytes(body: Record<string, unknown>): Record<string, unknown> {
  if (body.blocks instanceof Uint8Array) body.blocks = new BytesWrapper(body.blocks)
  return body
}
