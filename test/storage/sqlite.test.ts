import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { migrate, openDb } from '../../src/storage/sqlite.ts'

test('migrations are tracked as Kysely does, run once, and Hearth additions apart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-sqlite-'))
  try {
    const path = join(dir, 'x.sqlite')
    let runs = 0
    const set = {
      official: [{ name: '001-init', up: (db: import('../../src/storage/sqlite.ts').Db) => (runs++, db.exec('CREATE TABLE t (a varchar)')) }],
      hearth: [{ name: 'h001-index', up: (db: import('../../src/storage/sqlite.ts').Db) => db.exec('CREATE INDEX t_a ON t (a)') }],
    }
    const db = openDb(path)
    migrate(db, set)
    migrate(db, set)
    assert.equal(runs, 1)
    assert.equal((db.pragma('journal_mode', { simple: true }) as string).toLowerCase(), 'wal')
    assert.deepEqual(db.prepare('SELECT name FROM kysely_migration').all(), [{ name: '001-init' }])
    assert.deepEqual(db.prepare('SELECT name FROM hearth_migration').all(), [{ name: 'h001-index' }])
    assert.deepEqual(db.prepare('SELECT id, is_locked FROM kysely_migration_lock').all(), [{ id: 'migration_lock', is_locked: 0 }])
    db.close()
    // A failing migration leaves nothing behind.
    const db2 = openDb(path)
    assert.throws(() =>
      migrate(db2, { official: [...set.official, { name: '002-bad', up: (d) => d.exec('CREATE TABLE u (a); SELECT nonsense()') }] }),
    )
    assert.equal(db2.prepare(`SELECT count(*) n FROM sqlite_master WHERE name = 'u'`).get() !== undefined, true)
    assert.deepEqual((db2.prepare(`SELECT count(*) n FROM sqlite_master WHERE name = 'u'`).get() as { n: number }).n, 0)
    db2.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
