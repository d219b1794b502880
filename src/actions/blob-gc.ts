// Garbage collection of blobs nothing references. The official PDS never removes an upload that
// no record came to use (bluesky-social/pds#309: temp storage only grows); Hearth removes them
// after a grace period, HEARTH_BLOB_GC_GRACE_MS (config.blobGcGraceMs, default 24 h), long
// enough for any client to upload, then post.
//
// Races. The database step is one synchronous transaction, so a commit (also synchronous) that
// references a blob lands either before it (its record_blob row protects the blob) or after (the
// blob is gone and the commit fails with BlobNotFound, as for a blob never uploaded: the client
// uploads again). The file step runs in the account's queue (BlobStore.serialize), behind the
// file work of every earlier commit and upload, so it never deletes a file that a decision made
// before it still needs; and the database step itself waits for its turn in that queue, so no
// pending move is half done when it looks. An upload still streaming has no row yet, but its temp
// file is younger than the grace period, so it is not taken for an orphan.
import { parseCid } from '../repo/cid.ts'
import { type BlobStore, STAGING_PREFIX } from '../blob/store.ts'
import type { BlobIndex } from '../actor/blobs.ts'

export interface GcOptions {
  /**
   * Also remove permanent blobs that no record references (and stray permanent files with no
   * row). Default true. Such blobs only arise from interrupted work, since the write path drops
   * a blob with its last reference.
   */
  includePermanent?: boolean
}

export interface GcResult {
  /** CIDs whose rows (and files) were removed. */
  blobs: string[]
  /** Temp files removed that had no row (uploads whose bookkeeping never happened). */
  orphanTempFiles: number
  /** Permanent-folder files removed that had no row and no reference, or crash leftovers. */
  orphanStoredFiles: number
  /** File deletions that failed (retried at the next run). */
  errors: unknown[]
}

/**
 * Removes, for one account, what has been unreferenced for longer than `graceMs` before `now`
 * (ms since the epoch): blob rows with their files, and files that no row accounts for.
 * Takes its turn in the account's file queue (see above); call it from a periodic sweep over
 * the accounts.
 */
export function collectUntethered(
  index: BlobIndex,
  store: BlobStore,
  did: string,
  now: number,
  graceMs: number,
  opts: GcOptions = {},
): Promise<GcResult> {
  return store.serialize(did, () => collect(index, store, did, now, graceMs, opts))
}

async function collect(index: BlobIndex, store: BlobStore, did: string, now: number, graceMs: number, opts: GcOptions): Promise<GcResult> {
  const includePermanent = opts.includePermanent ?? true
  const cutoffMs = now - graceMs
  const result: GcResult = { blobs: [], orphanTempFiles: 0, orphanStoredFiles: 0, errors: [] }

  const dropped = index.takeUntethered(new Date(cutoffMs).toISOString(), includePermanent)
  const deletions: Array<Promise<void>> = []
  for (const { cid, tempKey } of dropped) {
    result.blobs.push(cid)
    deletions.push(store.delete(did, cid))
    if (tempKey !== null) deletions.push(store.deleteTemp(did, tempKey))
  }
  await settle(deletions, result.errors)

  const keys = index.knownTempKeys()
  const tempOrphans = (await store.listTemp(did)).filter((f) => f.mtimeMs < cutoffMs && !keys.has(f.name))
  const before = result.errors.length
  await settle(
    tempOrphans.map((f) => store.deleteTemp(did, f.name)),
    result.errors,
  )
  result.orphanTempFiles = tempOrphans.length - (result.errors.length - before)

  if (includePermanent) {
    const storedOrphans = (await store.listStored(did)).filter((f) => {
      if (f.mtimeMs >= cutoffMs) return false
      if (f.name.startsWith(STAGING_PREFIX)) return true
      if (!isCidName(f.name)) return false // not ours: leave it
      return !index.isBlobKnown(f.name)
    })
    const beforeStored = result.errors.length
    await settle(
      storedOrphans.map((f) => store.deleteStoredFile(did, f.name)),
      result.errors,
    )
    result.orphanStoredFiles = storedOrphans.length - (result.errors.length - beforeStored)
  }
  return result
}

function isCidName(name: string): boolean {
  try {
    parseCid(name)
    return true
  } catch {
    return false
  }
}

async function settle(work: Array<Promise<void>>, errors: unknown[]): Promise<void> {
  for (const r of await Promise.allSettled(work)) if (r.status === 'rejected') errors.push(r.reason)
}
