// What an account's store holds, for the operator dashboard: the bytes of its blobs (as their
// metadata records them, uploads not yet referenced included) and of its repo blocks.
import type { ActorStore } from './store.ts'

export interface ActorUsage {
  blobBytes: number
  blobCount: number
  repoBlockBytes: number
}

export function actorUsage(store: ActorStore): ActorUsage {
  const blobs = store.db.prepare(`SELECT coalesce(sum("size"), 0) AS "bytes", count(*) AS "n" FROM "blob"`).get() as { bytes: number; n: number }
  const blocks = store.db.prepare(`SELECT coalesce(sum("size"), 0) AS "bytes" FROM "repo_block"`).get() as { bytes: number }
  return { blobBytes: blobs.bytes, blobCount: blobs.n, repoBlockBytes: blocks.bytes }
}
