// Recent activity from the event log for the operator dashboard's charts: how many events of a
// kind (commits are `append`) were sequenced in each of the last hours. Read-only.
import type { Db } from '../storage/sqlite.ts'
import type { EventType } from './events.ts'

/** Counts per hour, oldest first, for the `hours` hours up to and including the current one. */
export function eventsPerHour(db: Db, eventType: EventType, hours: number, now = Date.now()): Array<{ hour: string; count: number }> {
  const current = Math.floor(now / 3_600_000) * 3_600_000
  const start = current - (hours - 1) * 3_600_000
  const rows = db
    .prepare(
      `SELECT substr("sequencedAt", 1, 13) AS "hour", count(*) AS "count" FROM repo_seq
       WHERE "sequencedAt" >= ? AND "eventType" = ? AND "invalidated" = 0 GROUP BY "hour"`,
    )
    .all(new Date(start).toISOString(), eventType) as Array<{ hour: string; count: number }>
  const byHour = new Map(rows.map((r) => [r.hour, r.count]))
  return Array.from({ length: hours }, (_, i) => {
    const hour = new Date(start + i * 3_600_000).toISOString().slice(0, 13)
    return { hour, count: byHour.get(hour) ?? 0 }
  })
}
