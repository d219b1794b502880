// The disk side of blob bookkeeping, done after the SQLite change that decided it.
//
// Ordering: the write path is synchronous (its commit is atomic with respect to the event loop),
// but moving and deleting files is not. Every function here takes its place in the account's
// queue (BlobStore.serialize) synchronously, at call time, and does its work when its turn
// comes. So call applyBlobPlan in the same tick as the commit that produced the plan: file work
// then runs in the order of the database decisions, and an upload, a later commit's move or the
// garbage collector never overtakes an earlier commit's deletes. Before deleting a file each step
// also checks that no row has come to need it again.
import type { BlobRef } from '../repo/data-model.ts'
import { BlobNotFoundError, type BlobStore, type TempBlob } from '../blob/store.ts'
import type { BlobIndex, BlobPlan } from '../actor/blobs.ts'
import { chooseMimeType } from '../blob/sniff.ts'

export interface PlanOutcome {
  /** Blobs made permanent. */
  madePermanent: number
  /**
   * Blobs still in temp storage because the move failed; their rows keep the tempKey and
   * finishPendingBlobs retries them. The commit itself stands.
   */
  failed: Array<{ cid: string; error: unknown }>
  /** File deletions that failed (garbage left on disk, never data lost). */
  deleteErrors: unknown[]
}

const MOVE_CONCURRENCY = 8

/**
 * Carries out a plan from processWriteBlobs: moves committed blobs to their permanent paths (then
 * clears their tempKey), deletes the files of dropped blobs and redundant temp uploads. Never
 * rejects for a single blob: the commit has happened and must be answered.
 */
export function applyBlobPlan(index: BlobIndex, store: BlobStore, did: string, plan: BlobPlan): Promise<PlanOutcome> {
  return store.serialize(did, () => runPlan(index, store, did, plan))
}

async function runPlan(index: BlobIndex, store: BlobStore, did: string, plan: BlobPlan): Promise<PlanOutcome> {
  const outcome: PlanOutcome = { madePermanent: 0, failed: [], deleteErrors: [] }
  const moves = plan.makePermanent
  for (let i = 0; i < moves.length; i += MOVE_CONCURRENCY) {
    await Promise.all(
      moves.slice(i, i + MOVE_CONCURRENCY).map(async ({ cid, tempKey }) => {
        try {
          await store.makePermanent(did, tempKey, cid)
          index.markPermanent(cid, tempKey)
          outcome.madePermanent++
        } catch (error) {
          outcome.failed.push({ cid, error })
        }
      }),
    )
  }
  const deletions: Array<Promise<void>> = []
  for (const { cid, tempKey } of plan.deleteFiles) {
    // The same bytes may have been uploaded again since the row was dropped.
    if (index.getBlobRow(cid) === undefined) deletions.push(store.delete(did, cid))
    if (tempKey !== null && !index.tempKeyInUse(tempKey)) deletions.push(store.deleteTemp(did, tempKey))
  }
  for (const key of plan.discardTempKeys) if (!index.tempKeyInUse(key)) deletions.push(store.deleteTemp(did, key))
  for (const r of await Promise.allSettled(deletions)) if (r.status === 'rejected') outcome.deleteErrors.push(r.reason)
  return outcome
}

/**
 * uploadBlob's bookkeeping once the bytes are in temp storage (BlobStore.putTemp, which runs
 * on its own: a long upload holds up nothing). The recorded type is the sniffed one, else the
 * request's Content-Type, else application/octet-stream. Refused (400) for a taken-down blob,
 * whose temp file is then deleted.
 */
export function acceptUpload(
  index: BlobIndex,
  store: BlobStore,
  did: string,
  temp: TempBlob,
  contentType: string | undefined | null,
): Promise<BlobRef> {
  return store.serialize(did, async () => {
    let tracked: ReturnType<BlobIndex['trackUntethered']>
    try {
      tracked = index.trackUntethered({
        cid: temp.cid,
        mimeType: chooseMimeType(temp.sniffedMime, contentType),
        size: temp.size,
        tempKey: temp.key,
      })
    } catch (err) {
      await store.deleteTemp(did, temp.key).catch(() => {})
      throw err
    }
    const outcome = await runPlan(index, store, did, tracked.plan)
    // A failed move leaves the row pending and the upload safe in temp storage; the client has
    // not been answered yet, so say so.
    if (outcome.failed.length > 0) throw outcome.failed[0].error
    return tracked.ref
  })
}

/**
 * Moves the blobs a crash left in temp storage although committed records reference them. Run
 * when an account's store is opened. Those whose temp file is gone too stay listed in `failed`
 * (BlobNotFoundError); getBlob will not find them.
 */
export function finishPendingBlobs(index: BlobIndex, store: BlobStore, did: string): Promise<PlanOutcome> {
  return store.serialize(did, () =>
    runPlan(index, store, did, { makePermanent: index.pendingPermanent(), deleteFiles: [], discardTempKeys: [] }),
  )
}

/**
 * A blob takedown (admin updateSubjectStatus) or its reversal: the row's takedownRef, then the
 * file into or out of quarantine. A missing file is not an error, as the official.
 */
export function applyBlobTakedown(
  index: BlobIndex,
  store: BlobStore,
  did: string,
  cid: string,
  takedown: { applied: boolean; ref?: string },
): Promise<void> {
  index.setBlobTakedown(cid, takedown)
  return store.serialize(did, async () => {
    try {
      if (takedown.applied) await store.quarantine(did, cid)
      else await store.unquarantine(did, cid)
    } catch (err) {
      if (!(err instanceof BlobNotFoundError)) throw err
    }
  })
}
