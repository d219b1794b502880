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
       ORDER BY a."createdAt" DESC, a."did" LIMIT +@limit`, // `+`: see LIMIT_PARAM (storage/sqlite.ts)
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

/** Signups per day (UTC), oldest first, for the `days` days up to and including today. */
export function signupsPerDay(db: Db, days: number, now = Date.now()): Array<{ day: string; count: number }> {
  const today = Math.floor(now / 86_400_000) * 86_400_000
  const start = today - (days - 1) * 86_400_000
  const rows = db
    .prepare(`SELECT substr("createdAt", 1, 10) AS "day", count(*) AS "count" FROM "actor" WHERE "createdAt" >= ? GROUP BY "day"`)
    .all(new Date(start).toISOString()) as Array<{ day: string; count: number }>
  const byDay = new Map(rows.map((r) => [r.day, r.count]))
  return Array.from({ length: days }, (_, i) => {
    const day = new Date(start + i * 86_400_000).toISOString().slice(0, 10)
    return { day, count: byDay.get(day) ?? 0 }
  })
}
