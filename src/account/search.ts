// The operator dashboard's account list: accounts whose handle, DID or email contains a text
// (newest first), with their status and last commit time. Read-only, over the account tables.
import type { Db } from '../storage/sqlite.ts'

export interface AccountListing {
  did: string
  handle: string | null
  email: string | null
  emailConfirmedAt: string | null
  createdAt: string
  takedownRef: string | null
  deactivatedAt: string | null
  /** When the repo last changed (the repo root's indexedAt), or null. */
  lastCommitAt: string | null
}

/** At most `limit` accounts matching `query` (any part of handle, DID or email; all when empty). */
export function searchAccounts(db: Db, query: string, limit: number): AccountListing[] {
  const like = `%${query.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  return db
    .prepare(
      `SELECT a."did", a."handle", c."email", c."emailConfirmedAt", a."createdAt", a."takedownRef", a."deactivatedAt", r."indexedAt" AS "lastCommitAt"
       FROM "actor" a LEFT JOIN "account" c ON c."did" = a."did" LEFT JOIN "repo_root" r ON r."did" = a."did"
       WHERE lower(a."did") LIKE @like ESCAPE '\\' OR lower(coalesce(a."handle", '')) LIKE @like ESCAPE '\\' OR lower(coalesce(c."email", '')) LIKE @like ESCAPE '\\'
       ORDER BY a."createdAt" DESC, a."did" LIMIT @limit`,
    )
    .all({ like, limit }) as AccountListing[]
}

/** How many accounts there are, and how many signed up since `sinceIso`. */
export function countAccounts(db: Db, sinceIso: string): { total: number; recent: number } {
  return db.prepare(`SELECT count(*) AS "total", count(*) FILTER (WHERE "createdAt" >= ?) AS "recent" FROM "actor"`).get(sinceIso) as {
    total: number
    recent: number
  }
}
