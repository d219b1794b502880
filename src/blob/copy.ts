// Copies every permanent and quarantined blob of one store into another (disk → S3 to move a
// host onto object storage, S3 → disk to leave it), while the server keeps running on the
// source. Resumable: a blob already in the target with the same size is skipped, so a second run
// copies only what the first did not (or what was uploaded since). Verified: the bytes read are
// hashed and must give the CID they are stored under before they are written, and the target
// checks the CID again as it writes. Temporary uploads are not copied: they are either made
// permanent by their post (and copied by the next run) or swept.
import { parseCid } from '../repo/cid.ts'
import type { BlobStore, FileEntry } from './store.ts'

export interface CopyProgress {
  objects: number
  bytes: number
  totalObjects: number
  totalBytes: number
  /** Already in the target (same size): not copied again. */
  skipped: number
  /** Not copied: their bytes do not hash to their name, or reading or writing them failed. */
  failed: Array<{ did: string; name: string; error: string }>
}

export interface CopyOptions {
  /** Called after each blob, and once at the end. */
  onProgress?: (p: CopyProgress) => void
  concurrency?: number
}

interface Item {
  did: string
  entry: FileEntry
  area: 'stored' | 'quarantine'
}

export async function copyBlobStore(source: BlobStore, target: BlobStore, opts: CopyOptions = {}): Promise<CopyProgress> {
  const items: Item[] = []
  const progress: CopyProgress = { objects: 0, bytes: 0, totalObjects: 0, totalBytes: 0, skipped: 0, failed: [] }
  for (const did of await source.listAccounts()) {
    for (const entry of await source.listStored(did)) items.push({ did, entry, area: 'stored' })
    for (const entry of await source.listQuarantined(did)) items.push({ did, entry, area: 'quarantine' })
  }
  for (const { entry } of items) {
    progress.totalObjects++
    progress.totalBytes += entry.size
  }
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]
      try {
        if (await copyOne(source, target, item)) progress.skipped++
      } catch (err) {
        progress.failed.push({ did: item.did, name: item.entry.name, error: err instanceof Error ? err.message : String(err) })
      }
      progress.objects++
      progress.bytes += item.entry.size
      opts.onProgress?.(progress)
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker))
  opts.onProgress?.(progress)
  return progress
}

/** Copies one blob; true when the target already had it. */
async function copyOne(source: BlobStore, target: BlobStore, { did, entry, area }: Item): Promise<boolean> {
  let cid
  try {
    cid = parseCid(entry.name)
  } catch {
    throw new Error('not named by a CID (a crash leftover?)')
  }
  if (area === 'stored') {
    if ((await target.storedSize(did, cid)) === entry.size) return true
    const bytes = await source.getBytes(did, cid)
    // putPermanent refuses bytes that do not hash to the CID: nothing corrupt is copied.
    await target.putPermanent(did, cid, bytes)
  } else {
    if (await target.isQuarantined(did, cid)) return true
    await target.putQuarantined(did, cid, await source.getQuarantinedBytes(did, cid))
  }
  return false
}
