// The event log: appends events with gap-free, increasing `seq` and tells in-process listeners
// (the firehose) about them. Appends are synchronous SQLite inserts; listeners run after. The
// write path's commits append at the end of the turn (appendSoon), so that commits of several
// accounts in one turn share one transaction of the log.
import { EventEmitter } from 'node:events'
import type { Db } from '../storage/sqlite.ts'
import { LIMIT_PARAM, openDb, WalSyncAhead, WRITE_PATH_WAL_PAGES } from '../storage/sqlite.ts'
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
    this.db = openDb(path, { walAutocheckpointPages: WRITE_PATH_WAL_PAGES })
    this.walSync = new WalSyncAhead(() => this.db, `${path}-wal`, 32)
    migrateSequencerDb(this.db)
    // `seq` is the rowid (INTEGER PRIMARY KEY), so `run()`'s lastInsertRowid is the new seq. Not
    // `RETURNING "seq"` read with `get()`: that leaves the statement at its first row, and SQLite
    // runs its WAL auto-checkpoint only for a statement stepped to its end, so an append on its
    // own (every commit's) never checkpointed and the log's WAL grew without bound.
    this.insert = this.db.prepare('INSERT INTO repo_seq ("did", "eventType", "event", "invalidated", "sequencedAt") VALUES (?, ?, ?, 0, ?)')
    this.lastSeqStmt = this.db.prepare('SELECT max("seq") AS seq FROM repo_seq')
    this.rangeStmt = this.db.prepare(
      `SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "seq" > ? AND "invalidated" = 0 ORDER BY "seq" ASC ${LIMIT_PARAM}`,
    )
    // Through the DID's index: `+"eventType"` keeps SQLite off the event type's, whose walk back
    // from the newest event passes every other account's events of that type (an account last
    // written 300,000 events ago: 99.6 ms against 6 µs, BENCHMARKS.md "The event log's lookups").
    this.lastForDidStmt = this.db.prepare(
      'SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "did" = +? AND +"eventType" = +? ORDER BY "seq" DESC LIMIT 1',
    )
    // In the time index's own order, so the first entry at or after the time is the answer. Ordered
    // by seq, SQLite sorted every event since that time first: a subscriber's cursor older than the
    // backfill window (anyone can send one) held the server for as long as that took.
    this.firstAfterTimeStmt = this.db.prepare(
      'SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "sequencedAt" >= ? AND "invalidated" = 0 ORDER BY "sequencedAt" ASC, "seq" ASC LIMIT 1',
    )
    this.deleteForDidStmt = this.db.prepare('DELETE FROM repo_seq WHERE "did" = ? AND "seq" < ?')
  }

  /** ~8 WAL frames an event: a look at the WAL's size every 32 appends. (Read by tests.) */
  readonly walSync: WalSyncAhead

  /** Events waiting for the next batched append (appendSoon), oldest first. */
  #queued: Array<{ events: SeqEvent[]; resolve: (rows: SeqRow[]) => void; reject: (err: unknown) => void }> = []
  #flushTimer: NodeJS.Immediate | null = null

  /**
   * Appends events at the end of this turn of the event loop, in one transaction with whatever
   * other commits queued in the same turn (concurrent writes to several accounts share the log's
   * page writes), and resolves with their rows once they are in the log. Events keep the order of
   * the calls: every other method that writes or looks up an account's latest event first appends
   * what is queued. Rejects if the append fails (the caller's outbox still holds the events).
   */
  appendSoon(events: SeqEvent[]): Promise<SeqRow[]> {
    return new Promise((resolve, reject) => {
      this.#queued.push({ events, resolve, reject })
      this.#flushTimer ??= setImmediate(this.#flushSoon)
    })
  }

  readonly #flushSoon = (): void => {
    this.#flushTimer = null
    this.flushQueued()
  }

  /** Appends the events queued by appendSoon now. Never throws: a failure rejects their callers. */
  flushQueued(): void {
    if (this.#flushTimer) {
      clearImmediate(this.#flushTimer)
      this.#flushTimer = null
    }
    const batch = this.#queued
    if (batch.length === 0) return
    this.#queued = []
    let rows: SeqRow[]
    try {
      rows = this.#insertAll(batch.length === 1 ? (batch[0] as (typeof batch)[0]).events : batch.flatMap((b) => b.events))
    } catch (err) {
      for (const b of batch) b.reject(err)
      return
    }
    let at = 0
    for (const b of batch) {
      b.resolve(rows.slice(at, at + b.events.length))
      at += b.events.length
    }
    this.#notify(rows)
  }

  /** Appends events in one transaction; returns their rows (with seq) after notifying listeners. */
  append(events: SeqEvent[]): SeqRow[] {
    this.flushQueued()
    const rows = this.#insertAll(events)
    this.#notify(rows)
    return rows
  }

  /**
   * Where a listener's exception goes. By default it is thrown again outside the append (the
   * process's last-resort handler reports it as the bug it is); tests collect it here.
   */
  onListenerError: (err: unknown) => void = (err) => {
    queueMicrotask(() => {
      throw err
    })
  }

  // Events in the log are appended whatever a listener does: each listener is called on its own,
  // so one that throws neither fails the callers whose events are stored nor keeps the events
  // from the listeners after it (the firehose, repo_root's bookkeeping).
  #notify(rows: SeqRow[]): void {
    if (rows.length === 0) return
    for (const listener of this.listeners('events')) {
      try {
        ;(listener as (rows: SeqRow[]) => void)(rows)
      } catch (err) {
        this.onListenerError(err)
      }
    }
  }

  #insertAll(events: SeqEvent[]): SeqRow[] {
    const now = new Date().toISOString()
    const rows: SeqRow[] = []
    const insert = (e: SeqEvent) => {
      const seq = Number(this.insert.run(e.did, e.eventType, e.event, now).lastInsertRowid)
      rows.push({ seq, did: e.did, eventType: e.eventType, event: e.event, sequencedAt: now })
    }
    // One event (every commit) is one statement, atomic and durable on its own: no BEGIN/COMMIT.
    if (events.length === 1) insert(events[0] as SeqEvent)
    else if (events.length > 1) this.db.transaction(() => events.forEach(insert)).immediate()
    this.walSync.committed()
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
    this.flushQueued()
    return (this.lastForDidStmt.get(did, eventType) as SeqRow | undefined) ?? null
  }

  /**
   * Each account's last #commit and last #sync event past `seq`, in seq order (at most two rows
   * per account: what decides its head, see account/repo-root.ts).
   */
  lastHeadEventsAfter(seq: number): SeqRow[] {
    this.flushQueued()
    return this.db
      .prepare(
        `SELECT "seq", "did", "eventType", "event", "sequencedAt" FROM repo_seq WHERE "seq" IN
           (SELECT max("seq") FROM repo_seq WHERE "seq" > ? AND "eventType" IN ('append', 'sync') AND "invalidated" = 0 GROUP BY "did", "eventType")
         ORDER BY "seq" ASC`,
      )
      .all(seq) as SeqRow[]
  }

  /** On account deletion the official PDS drops the account's earlier events. */
  deleteBefore(did: string, seq: number): void {
    this.flushQueued()
    this.deleteForDidStmt.run(did, seq)
  }

  close(): void {
    this.flushQueued()
    this.db.close()
  }
}
