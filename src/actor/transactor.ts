// The write path: one function through which every repo change goes.
//   build the commit (pure, src/repo) → one SQLite transaction on the actor store (blocks,
//   index, head, outbox, caller's extra work) → one append to the sequencer → done.
// It is synchronous from start to end, so writes to one repo cannot interleave: the Node event
// loop itself is the per-account lock, and there are no awaits to lose time in.
import type { Cid } from '../repo/cid.ts'
import { cidEquals } from '../repo/cid.ts'
import { buildCommit, type CommitData, type PreparedWrite } from '../repo/commit-builder.ts'
import { commitEvent, type SeqEvent } from '../sequencer/events.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { XrpcError } from '../errors.ts'
import type { ActorStore, IndexOp } from './store.ts'

/** The official PDS refuses commits whose event would exceed 2 MB. */
export const MAX_COMMIT_EVENT_BYTES = 2_000_000

export interface CommitRequest {
  writes: PreparedWrite[]
  /** Backlinks per write index, for the record index. */
  backlinks?: Array<Array<{ path: string; linkTo: string }> | undefined>
  /** The commit the caller expects the repo to be at. */
  swapCommit?: Cid | null
  /** Work that must land in the same transaction (blob links). */
  extra?: () => void
  /**
   * Append the event at the end of this turn of the event loop with other commits' events (one
   * transaction of the log for all), instead of before returning; `sequenced` settles then.
   */
  deferSequencing?: boolean
}

export interface CommitResult {
  commit: CommitData
  /** The event's seq (null when deferred or without a sequencer). */
  seq: number | null
  /** Settles once the event is in the log; rejects if it could not be appended. */
  sequenced: Promise<void>
}

const SEQUENCED: Promise<void> = Promise.resolve()

export function commitWrites(store: ActorStore, sequencer: Sequencer | null, req: CommitRequest): CommitResult {
  const head = store.head()
  if (!head) throw new XrpcError(400, 'InvalidRequest', `no repo for ${store.did}`)
  assertCommitSwap(head, req.swapCommit)
  const commit = buildCommit({ did: store.did, commitCid: head.cid, rev: head.rev }, store.tree(), req.writes, store.keypair())
  if (commit.relevantBlocks.byteSize > MAX_COMMIT_EVENT_BYTES) {
    throw new XrpcError(400, 'InvalidRequest', 'Too many writes. Max event size: 2MB')
  }
  const ops: IndexOp[] = req.writes.map((w, i) => ({
    action: w.action,
    collection: w.collection,
    rkey: w.rkey,
    cid: w.action === 'delete' ? null : w.block.cid,
    backlinks: req.backlinks?.[i],
  }))
  return storeAndSequence(store, sequencer, commit, ops, [commitEvent(commit)], req.extra, req.deferSequencing ?? false)
}

/** swapCommit against the current head: 400 InvalidSwap "Commit was at <cid>" (the official's words). */
export function assertCommitSwap(head: { cid: Cid } | null, swapCommit: Cid | null | undefined): void {
  if (swapCommit && head && !cidEquals(swapCommit, head.cid)) {
    throw new XrpcError(400, 'InvalidSwap', `Commit was at ${head.cid.$link}`)
  }
}

/** Creates the first, empty commit of a new repo (no events: account creation sequences them). */
export function initRepo(store: ActorStore): CommitData {
  const commit = buildCommit({ did: store.did, commitCid: null, rev: null }, store.tree(), [], store.keypair())
  store.applyCommit(commit, [], [])
  return commit
}

function storeAndSequence(
  store: ActorStore,
  sequencer: Sequencer | null,
  commit: CommitData,
  ops: IndexOp[],
  events: SeqEvent[],
  extra: (() => void) | undefined,
  defer: boolean,
): CommitResult {
  store.applyCommit(commit, ops, sequencer ? events : [], extra)
  if (!sequencer) return { commit, seq: null, sequenced: SEQUENCED }
  if (defer) {
    // Until the append, the outbox holds the event: a stop in between loses nothing (the next
    // open of the store appends it), and the caller answers only once `sequenced` settles.
    const sequenced = sequencer.appendSoon(events).then(() => {
      if (store.sequencedRev === null || store.sequencedRev < commit.rev) store.sequencedRev = commit.rev
    })
    return { commit, seq: null, sequenced }
  }
  const rows = sequencer.append(events)
  store.sequencedRev = commit.rev
  return { commit, seq: rows[rows.length - 1]?.seq ?? null, sequenced: SEQUENCED }
}
