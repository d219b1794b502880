// The periodic sweep that removes uploads no record ever used, once their grace period
// (HEARTH_BLOB_GC_GRACE_MS) has passed — something the official PDS never does (pds#309).
// Each pass also finishes blob moves a crash left pending. Only never-tethered uploads are swept: a permanent blob is removed by the write path with
// its last reference, so a data directory with gaps in its record links loses nothing here.
import type { CoreServices } from '../core-services.ts'
import { finishPendingBlobs } from './blob-apply.ts'
import { collectUntethered } from './blob-gc.ts'

export interface BlobSweep {
  /** One pass over every account (also what the timer runs). */
  runOnce(): Promise<{ accounts: number; blobs: number }>
  stop(): void
}

export function startBlobSweep(s: Pick<CoreServices, 'accounts' | 'actors' | 'blobs' | 'config' | 'logger'>, intervalMs: number): BlobSweep {
  let running: Promise<{ accounts: number; blobs: number }> | null = null
  const pass = async () => {
    let cursor: string | undefined
    let accounts = 0
    let blobs = 0
    do {
      const page = s.accounts.listRepos({ limit: 500, cursor })
      for (const repo of page.repos) {
        const store = s.actors.get(repo.did)
        if (!store) continue
        accounts++
        try {
          // Blob moves a crash interrupted after their commit are finished first.
          await finishPendingBlobs(store.blobs, s.blobs, repo.did)
          const res = await collectUntethered(store.blobs, s.blobs, repo.did, Date.now(), s.config.hearth.blobGcGraceMs, {
            includePermanent: false,
          })
          blobs += res.blobs.length
        } catch (err) {
          s.logger.warn({ did: repo.did, err: String(err) }, 'blob sweep failed for an account')
        }
      }
      cursor = page.cursor
    } while (cursor)
    return { accounts, blobs }
  }
  const runOnce = () => {
    running ??= pass().finally(() => {
      running = null
    })
    return running
  }
  const timer = setInterval(() => void runOnce(), intervalMs)
  timer.unref()
  return { runOnce, stop: () => clearInterval(timer) }
}
