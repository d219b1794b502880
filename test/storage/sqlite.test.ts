import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { forgetPerConnection, immediateTransaction, LIMIT_PARAM, migrate, openDb, PAGE_CACHE_KIB, perConnection, releasePageCache } from '../../src/storage/sqlite.ts'
import { BARE_LIMIT, bindsPlannedValue } from '../helpers/planned-values.ts'

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

// better-sqlite3 12 aborts Node 24 processes when the GC finalizes its objects; only openDb knows
// to load the Node-API build there. A module that imports the driver itself brings the abort
// back (it did once: the getRepo snapshot), so no module but sqlite.ts may.
test('every connection has a bounded page cache (better-sqlite3 builds SQLite with 16 MB each)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-sqlite-'))
  try {
    assert.ok(PAGE_CACHE_KIB <= 2048)
    const db = openDb(join(dir, 'x.sqlite'))
    assert.equal(db.pragma('cache_size', { simple: true }), -PAGE_CACHE_KIB)
    db.close()
    const ro = openDb(join(dir, 'x.sqlite'), { readonly: true })
    assert.equal(ro.pragma('cache_size', { simple: true }), -PAGE_CACHE_KIB)
    ro.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('releasePageCache leaves a connection busy iterating, or in a transaction, as it was; otherwise frees and keeps the size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-sqlite-'))
  try {
    const db = openDb(join(dir, 'x.sqlite'))
    db.exec('CREATE TABLE t (a integer)')
    const insert = db.prepare('INSERT INTO t (a) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run(i)
    })()
    const rows = db.prepare('SELECT a FROM t ORDER BY a').pluck().iterate()
    assert.equal(rows.next().value, 0)
    assert.equal(releasePageCache(db), false)
    // The iteration goes on, and the cache has its size.
    assert.equal(rows.next().value, 1)
    rows.return?.()
    assert.equal(db.pragma('cache_size', { simple: true }), -PAGE_CACHE_KIB)
    let inside: boolean | undefined
    db.transaction(() => {
      insert.run(500)
      inside = releasePageCache(db)
    })()
    assert.equal(inside, false)
    assert.equal(releasePageCache(db), true)
    assert.equal(db.pragma('cache_size', { simple: true }), -PAGE_CACHE_KIB)
    assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 501)
    db.close()
    assert.equal(releasePageCache(db), false)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

/** Every .ts file under src/ but storage/sqlite.ts, with its path relative to src/. */
function srcFilesButSqlite(): Array<{ path: string; text: string }> {
  const srcDir = fileURLToPath(new URL('../../src/', import.meta.url))
  const out: Array<{ path: string; text: string }> = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith('.ts') && relative(srcDir, full) !== join('storage', 'sqlite.ts')) {
        out.push({ path: relative(srcDir, full), text: readFileSync(full, 'utf8') })
      }
    }
  }
  walk(srcDir)
  return out
}

test('perConnection builds once per connection; forgetPerConnection lets go of one connection’s, which is built again on use', () => {
  const a = openDb(':memory:')
  const b = openDb(':memory:')
  try {
    let built = 0
    const statementFor = perConnection((db) => (built++, db.prepare('SELECT 1').pluck()))
    const first = statementFor(a)
    assert.equal(statementFor(a), first)
    const onB = statementFor(b)
    assert.equal(built, 2)
    forgetPerConnection(a)
    const again = statementFor(a)
    assert.notEqual(again, first)
    assert.equal(again.get(), 1)
    assert.equal(statementFor(b), onB, 'another connection keeps its own')
    assert.equal(built, 3)
    // One held across the release still runs while its connection is open.
    assert.equal(first.get(), 1)
  } finally {
    a.close()
    b.close()
  }
})

test('immediateTransaction: commits, takes the write lock at BEGIN, rolls back what a throw left, and nests as a savepoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-sqlite-tx-'))
  const db = openDb(join(dir, 'tx.sqlite'))
  const other = openDb(join(dir, 'tx.sqlite'))
  try {
    db.exec('CREATE TABLE t ("k" INTEGER PRIMARY KEY, "v" TEXT)')
    const put = db.prepare('INSERT INTO t ("k", "v") VALUES (?, ?)')
    const count = () => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n
    let lockedDuring = false
    const tx = immediateTransaction(db, (k: number, v: string, fail?: boolean) => {
      // IMMEDIATE: another connection cannot take the write lock while fn runs, even before fn writes.
      try {
        other.exec('BEGIN IMMEDIATE')
        other.exec('ROLLBACK')
      } catch (err) {
        lockedDuring = /busy|locked/i.test(String(err))
      }
      put.run(k, v)
      if (fail) throw new Error('refused')
    })
    other.pragma('busy_timeout = 0')
    tx(1, 'one')
    assert.equal(lockedDuring, true)
    assert.equal(count(), 1)
    assert.throws(() => tx(2, 'two', true), /refused/)
    assert.equal(db.inTransaction, false)
    assert.equal(count(), 1, 'the failed call left nothing')
    // Inside another transaction it is a savepoint: its failure undoes its part only, and the
    // outer transaction decides the rest.
    db.exec('BEGIN')
    put.run(10, 'outer')
    assert.throws(() => tx(11, 'inner', true), /refused/)
    assert.equal(db.inTransaction, true, 'the outer transaction goes on')
    tx(12, 'inner')
    db.exec('ROLLBACK')
    assert.equal(count(), 1, 'the outer rollback took the nested commit with it')
    // A constraint error in fn rolls back as well.
    assert.throws(() => tx(1, 'again'), /UNIQUE/)
    assert.equal(db.inTransaction, false)
    assert.deepEqual(db.prepare('SELECT "k", "v" FROM t').all(), [{ k: 1, v: 'one' }])
  } finally {
    other.close()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('no module but src/storage/sqlite.ts loads better-sqlite3 itself', () => {
  const offenders = srcFilesButSqlite()
    .filter(({ text }) => /^import (?!type )[^\n]*from 'better-sqlite3(-napi)?'/m.test(text) || /require\('better-sqlite3(-napi)?'\)|import\('better-sqlite3/.test(text))
    .map(({ path }) => path)
  assert.deepEqual(offenders, [])
})

test('no statement binds a value SQLite would plan with, and so compile again on every run (LIMIT_PARAM)', () => {
  const files = srcFilesButSqlite()
  // A row limit, anywhere.
  assert.deepEqual(files.filter(({ text }) => BARE_LIMIT.test(text)).map(({ path }) => path), [])
  // Any SQL text (a string literal) that binds such a value.
  const literal = /`(?:[^`\\]|\\.)*`|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g
  const offenders = files.flatMap(({ path, text }) =>
    [...text.matchAll(literal)]
      .map((m) => m[0])
      .filter(bindsPlannedValue)
      .map((sql) => `${path}: ${sql.slice(0, 80)}`),
  )
  assert.deepEqual(offenders, [])
  // What it stands for reads the same rows.
  const db = openDb(':memory:')
  db.exec('CREATE TABLE t (a INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3), (4)')
  assert.deepEqual(db.prepare(`SELECT a FROM t ORDER BY a DESC ${LIMIT_PARAM}`).pluck().all(2), [4, 3])
  assert.deepEqual(db.prepare(`SELECT a FROM t ORDER BY a DESC ${LIMIT_PARAM}`).pluck().all(-1), [4, 3, 2, 1])
  db.close()
})
