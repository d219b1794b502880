// The event log: appends events with gap-free, increasing `seq` and tells in-process listeners
// (the firehose) about them. Appends are synchronous SQLite inserts; listeners run after.
import { EventEmitter } from 'node:events'
import type { Db } from '../storage/sqlite.ts'
import { openDb } from '../storage/sqlite.ts'
import { migrateSequencerDb } from './db.ts'
import type { EventType, SeqEvent } from './events.ts'

export interface SeqRow {
  seq: number
  did: string
  eventType: EventType
  event: Uint8Array
  sequencedAt: string
}

export class Sequencer extends EventEmitter<{ events: [SeqRow[]] }> {
  readonly db: Db
  private readonly insert
  private readonly lastSeqStmt
  private readonly rangeStmt
  private readonly lastForDidStmt
  private readonly deleteForDidStmt
  private readonly firstAfterTimeStmt

  constructor(path: string) {
    super()
    this.db = openDb(path)
    migrateSequencerDb(this.db)
    this.insert = this.db.prepare(
      'INSERT INTO repo_seq ("did", "eventType", "event", "invalidated", "sequencedAt") VALUES (?, ?, ?, 0, ?) RETURNING "seq"',
    )
    this.lastSeqStmt = this.db.prepare('SELECT max("seq") AS seq FROM repo_seq')
    this.rangeStmt = this.db.prepare(
      'SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "seq" > ? AND "invalidated" = 0 ORDER BY "seq" ASC LIMIT ?',
    )
    this.lastForDidStmt = this.db.prepare(
      'SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "did" = ? AND "eventType" = ? ORDER BY "seq" DESC LIMIT 1',
    )
    this.firstAfterTimeStmt = this.db.prepare(
      'SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "sequencedAt" >= ? AND "invalidated" = 0 ORDER BY "seq" ASC LIMIT 1',
    )
    this.deleteForDidStmt = this.db.prepare('DELETE FROM repo_seq WHERE "did" = ? AND "seq" < ?')
  }

  /** Appends events in one transaction; returns their rows (with seq) after notifying listeners. */
  append(events: SeqEvent[]): SeqRow[] {
    const now = new Date().toISOString()
    const rows: SeqRow[] = []
    const insert = (e: SeqEvent) => {
      const { seq } = this.insert.get(e.did, e.eventType, e.event, now) as { seq: number }
      rows.push({ seq, did: e.did, eventType: e.eventType, event: e.event, sequencedAt: now })
    }
    // One event (every commit) is one statement, atomic and durable on its own: no BEGIN/COMMIT.
    if (events.length === 1) insert(events[0] as SeqEvent)
    else if (events.length > 1) this.db.transaction(() => events.forEach(insert)).immediate()
    if (rows.length > 0) this.emit('events', rows)
    return rows
  }

  lastSeq(): number | null {
    return (this.lastSeqStmt.get() as { seq: number | null }).seq
  }

  /** Events with seq > after, in order. */
  range(after: number, limit: number): SeqRow[] {
    return this.rangeStmt.all(after, limit) as SeqRow[]
  }

  /** The first event sequenced at or after `iso` (for cursors older than the backfill window). */
  firstAfterTime(iso: string): SeqRow | null {
    return (this.firstAfterTimeStmt.get(iso) as SeqRow | undefined) ?? null
  }

  lastOfType(did: string, eventType: EventType): SeqRow | null {
    return (this.lastForDidStmt.get(did, eventType) as SeqRow | undefined) ?? null
  }

  /** On account deletion the official PDS drops the account's earlier events. */
  deleteBefore(did: string, seq: number): void {
    this.deleteForDidStmt.run(did, seq)
  }

  close(): void {
    this.db.close()
  }
}
