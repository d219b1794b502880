// The event log's lookups read an index to the row they want. The latest event of a type for one
// account (what a store's outbox check compares with after a crash) goes through the DID's index:
// through the event type's, SQLite walked back from the newest event past every other account's
// events of that type (~100 ms on a log of 300,000 for an account last written at its start).
// The first event since a time (a subscriber's cursor older than the backfill window) is the time
// index's first entry from there: ordered by seq, SQLite sorted every event since that time first.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Statement } from 'better-sqlite3'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import type { Db } from '../../src/storage/sqlite.ts'

test('lastOfType reads one account\'s events through the DID index, not every event of the type', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-last-of-type-'))
  const seq = new Sequencer(join(dir, 'sequencer.sqlite'))
  try {
    seq.append([{ did: 'did:plc:quiet', eventType: 'append', event: new Uint8Array([1]) }])
    const busy = Array.from({ length: 5000 }, (_, i) => ({ did: `did:plc:busy${i % 50}`, eventType: 'append' as const, event: new Uint8Array([2]) }))
    for (let i = 0; i < 4; i++) seq.append(busy)
    seq.append([{ did: 'did:plc:quiet', eventType: 'account' as const, event: new Uint8Array([3]) }])

    const last = seq.lastOfType('did:plc:quiet', 'append')
    assert.equal(last?.seq, 1)
    assert.equal(last?.event[0], 1)
    assert.equal(seq.lastOfType('did:plc:quiet', 'account')?.seq, 20_002)
    assert.equal(seq.lastOfType('did:plc:none', 'append'), null)

    assert.match(planOf(seq, 'lastForDidStmt', 'did:plc:quiet', 'append'), /USING INDEX repo_seq_did_idx/)
  } finally {
    seq.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

/** `EXPLAIN QUERY PLAN` of one of the sequencer's prepared statements. */
function planOf(seq: Sequencer, statement: string, ...args: unknown[]): string {
  const internals = seq as unknown as Record<string, Statement> & { db: Db }
  return internals.db
    .prepare(`EXPLAIN QUERY PLAN ${(internals[statement] as Statement).source}`)
    .all(...args)
    .map((row) => (row as { detail: string }).detail)
    .join(' | ')
}

test('firstAfterTime is the time index\'s first entry at or after the time, with nothing sorted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-first-after-'))
  const seq = new Sequencer(join(dir, 'sequencer.sqlite'))
  try {
    const rows = Array.from({ length: 6000 }, (_, i) => ({ did: `did:plc:a${i % 7}`, eventType: 'append' as const, event: new Uint8Array([i % 256]) }))
    seq.append(rows)
    // Spread the events over 6,000 seconds, and take one near the start out of the stream.
    const { db } = seq as unknown as { db: Db }
    db.prepare(`UPDATE repo_seq SET "sequencedAt" = strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || "seq" || ' seconds')`).run()
    db.prepare(`UPDATE repo_seq SET "invalidated" = 1 WHERE "seq" = 100`).run()
    const at = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString()
    assert.equal(seq.firstAfterTime(at(50))?.seq, 50)
    assert.equal(seq.firstAfterTime(at(49.5))?.seq, 50)
    assert.equal(seq.firstAfterTime(at(100))?.seq, 101, 'an invalidated event is passed over')
    assert.equal(seq.firstAfterTime(at(7000)), null)
    const plan = planOf(seq, 'firstAfterTimeStmt', at(50))
    assert.match(plan, /USING INDEX repo_seq_sequenced_at_index/)
    assert.doesNotMatch(plan, /TEMP B-TREE/)
  } finally {
    seq.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
