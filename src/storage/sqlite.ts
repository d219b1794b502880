// Opening SQLite files and migrating them.
//
// Every database Hearth keeps (account, per-actor stores, sequencer, DID cache) is one that the
// official PDS also opens, through Kysely's migrator. So Hearth records the official migrations
// in Kysely's own tables (`kysely_migration`, `kysely_migration_lock`) under the same names:
// the official PDS started on a Hearth data directory finds its schema current, and Hearth
// started on an official one skips what is already there. Hearth's own additions (extra tables
// and indexes, never a changed official column) are tracked apart in `hearth_migration`, because
// Kysely refuses to run when its table names a migration it does not know.
import type BetterSqlite3 from 'better-sqlite3'
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

export type Db = BetterSqlite3.Database

// better-sqlite3 12 is the last to run on Node 20, but on Node 24 its statements can abort the
// process when the garbage collector finalizes them (WiseLibs/better-sqlite3#1515: node 24's
// ObjectWrap teardown). 13 is built on Node-API, ships prebuilt binaries, and needs Node 22: so
// Node 22+ loads 13 (installed under the alias better-sqlite3-napi) and Node 20 loads 12.
const require = createRequire(import.meta.url)
const NODE_MAJOR = Number(process.versions.node.split('.')[0])
const Database: typeof BetterSqlite3 =
  NODE_MAJOR >= 22 ? require('better-sqlite3-napi') : require('better-sqlite3')

export interface OpenOptions {
  readonly?: boolean
  /**
   * SQLite `synchronous`. NORMAL (the default, and what the official PDS runs with: better-sqlite3
   * builds SQLite with WAL databases at NORMAL) keeps every commit through a process crash; FULL
   * also through power loss, at an fsync per commit. HEARTH_SQLITE_SYNCHRONOUS=full selects it.
   */
  synchronous?: 'FULL' | 'NORMAL'
  /** Milliseconds to wait on a lock held by another connection or process. */
  busyTimeoutMs?: number
  /** SQLite `wal_autocheckpoint` in pages (its default is 1,000); see WRITE_PATH_WAL_PAGES. */
  walAutocheckpointPages?: number
}

/**
 * The checkpoint size of the databases every commit writes (the actor stores, the event log).
 * A commit writes ~30 WAL frames to its store (random leaves of the block table's CID index) and
 * ~7.5 to the log, so at SQLite's default of 1,000 pages a store checkpointed every ~30 commits:
 * each checkpoint syncs the WAL, copies the distinct pages to the database file and syncs it. At
 * 4,000 pages the syncs are a quarter as frequent and a page rewritten by many commits is copied
 * once per checkpoint rather than once per 30 commits; in process a commit's CPU fell by ~0.1 ms
 * (BENCHMARKS.md, "Write path, fifth round"). The WAL is still bounded (~16 MiB, and at most
 * WRITE_PATH_WAL_PAGES) while no reader holds an older snapshot: a getRepo stream's snapshot
 * (actor/snapshot.ts) keeps the store's WAL from starting again until the stream ends, whatever
 * this size. `synchronous` is unchanged, so every commit is as durable as before. A store closed
 * with more than a little WAL is checkpointed and truncated (closeKeepingWal); the WAL file of one
 * left open keeps its largest size (no journal_size_limit).
 *
 * The checkpoint runs with its WAL synced first, off the event loop (WalSyncAhead). SQLite's own
 * auto-checkpoint runs inside the commit that crosses its size, and its first step is an fsync of
 * the WAL's megabytes, during which the one thread waits (~9 of a checkpoint's ~14 ms here,
 * BENCHMARKS.md "Checkpoints in a write's wall time").
 */
export const EARLY_CHECKPOINT_PAGES = 4000

/**
 * SQLite's own auto-checkpoint for those databases: past the early one, for when its sync has
 * not come back in time (a process that never turns its event loop between commits, a slow disk).
 */
export const WRITE_PATH_WAL_PAGES = EARLY_CHECKPOINT_PAGES + 1000

/**
 * Once the WAL holds EARLY_CHECKPOINT_PAGES frames (looked at every `checkEvery` commits, ~5 µs a
 * look), the WAL file is synced on libuv's pool, and the checkpoint then runs on the event loop
 * after the sync, finding only what was appended since to sync. The syncs are the ones the
 * checkpoint makes anyway (`synchronous` unchanged), one more per checkpoint on frames already
 * written back: the same CPU in all (`bench/profile/checkpoint-wall.ts`). If the sync has not come
 * back by WRITE_PATH_WAL_PAGES, SQLite's own checkpoint runs, as it did before.
 */
export class WalSyncAhead {
  #commits = 0
  #noop: BetterSqlite3.Statement | null = null
  /**
   * The WAL size the next sync waits for: a checkpoint that could not start the WAL again (a
   * reader's snapshot, a getRepo stream, holds its older frames) is not tried again at every look,
   * but once the WAL has grown by another quarter of the size.
   */
  #nextAt = EARLY_CHECKPOINT_PAGES
  /** Syncs started so far (diagnostics, tests). */
  syncs = 0
  /** The sync under way and the checkpoint after it; null when none is. */
  #inFlight: Promise<void> | null = null

  constructor(
    private readonly db: () => Db | null,
    private readonly walPath: string,
    private readonly checkEvery: number,
  ) {}

  /** After each commit: cheap unless a look at the WAL's size is due. */
  committed(): void {
    if (++this.#commits < this.checkEvery || this.#inFlight) return
    this.#commits = 0
    const db = this.db()
    if (!db?.open || db.readonly) return
    let row: { log: number } | undefined
    try {
      this.#noop ??= db.prepare('PRAGMA wal_checkpoint(NOOP)')
      row = this.#noop.get() as { log: number } | undefined
    } catch {
      return // (a statement of the connection being iterated, say): SQLite's own checkpoint stays
    }
    if (!row) return
    if (row.log < EARLY_CHECKPOINT_PAGES) {
      this.#nextAt = EARLY_CHECKPOINT_PAGES
      return
    }
    if (row.log < this.#nextAt) return
    this.#nextAt = row.log + EARLY_CHECKPOINT_PAGES / 4
    this.syncs++
    this.#inFlight = syncFile(this.walPath).then(
      () => {
        this.#inFlight = null
        // The same connection, still open and between transactions: otherwise SQLite's own
        // checkpoint (or the close's) will do it.
        if (this.db() !== db || !db.open || db.inTransaction) return
        try {
          db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get()
        } catch {
          // (A full disk, say.) The WAL stays as it is; SQLite's own checkpoint tries again.
        }
      },
      () => {
        this.#inFlight = null
      },
    )
  }

  /** Settles once the sync under way, if any, and its checkpoint are done (tests). */
  idle(): Promise<void> {
    return this.#inFlight ?? Promise.resolve()
  }

  /** For a new connection: statements belong to theirs. */
  forget(): void {
    this.#noop = null
    this.#commits = 0
    this.#nextAt = EARLY_CHECKPOINT_PAGES
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await openFile(path, 'r+')
  try {
    await handle.datasync()
  } finally {
    await handle.close()
  }
}

/**
 * How SQL text here binds a row limit: `LIMIT +?`, never `LIMIT ?`. SQLite 3.53 (better-sqlite3
 * 12, which Hearth loads under Node 20) reads the value bound to a bare `LIMIT ?` while it plans
 * the statement, so it marks the statement to be compiled again whenever that parameter is bound,
 * and better-sqlite3 binds every parameter on every run: listRecords' listing query was parsed
 * and planned anew on every call (7% of the request's CPU in a `perf` profile; ~14 µs of ~60 in
 * process, BENCHMARKS.md "Statements compiled on every run"). The unary plus keeps the value out
 * of the plan, which is then what it was before SQLite looked at it. SQLite 3.54 (better-sqlite3
 * 13, under Node 22+) does the same with an equality on a parameter in a statement that joins
 * (every account lookup joined actor and account: 33 µs a run instead of 4.4) or that orders and
 * limits (`"collection" = ? … ORDER BY "rkey" LIMIT`): such a value is bound as `+?` too, and the
 * plan is the same (test/storage/planned-values.test.ts checks the SQL a server prepares).
 */
export const LIMIT_PARAM = 'LIMIT +?'

/** Each connection's page cache, in KiB. */
export const PAGE_CACHE_KIB = 1024

export function openDb(path: string, opts: OpenOptions = {}): Db {
  if (path !== ':memory:' && !opts.readonly && !existsSync(path)) {
    // Hearth's databases hold password hashes, tokens and private records: the server user's
    // alone. The file is created 0600 before SQLite opens it, because SQLite gives the -wal and
    // -shm it creates the main file's permissions (an existing file keeps its own, so one stat
    // is all an existing database costs here: actor stores are opened often).
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    closeSync(openSync(path, 'a', 0o600))
  }
  const db = new Database(path, { readonly: opts.readonly ?? false, timeout: opts.busyTimeoutMs ?? 5000 })
  // One exec for every setting: `db.pragma()` makes, runs and drops a statement object per call
  // (four of an actor store's five settings took 11.5 µs that way under Node 20, 42 µs under
  // Node 22's better-sqlite3 13), where one exec of the same pragmas takes 2–3 µs. Stores are
  // opened on every first touch of an account.
  // The page cache is held at two pages until the last settings (below).
  let pragmas = PAGE_CACHE_EMPTIED
  if (!opts.readonly) {
    pragmas += 'PRAGMA journal_mode = WAL;'
    pragmas += `PRAGMA synchronous = ${opts.synchronous ?? defaultSynchronous()};`
    if (opts.walAutocheckpointPages !== undefined) pragmas += `PRAGMA wal_autocheckpoint = ${Math.trunc(opts.walAutocheckpointPages)};`
  }
  // The official schema declares no foreign keys, and better-sqlite3 builds SQLite with them on:
  // keep SQLite's own default, explicitly.
  pragmas += 'PRAGMA foreign_keys = OFF;'
  // better-sqlite3 builds SQLite with a 16 MB page cache per connection (SQLite's own default is
  // 2 MB), and a cache keeps every page its database read until it is full. With up to a hundred
  // actor stores open that is memory without bound, for pages the operating system caches anyway
  // (a miss costs a pread of a few microseconds). 1 MiB holds a database's hot pages (b-tree
  // interiors, the latest records and MST nodes). A per-connection setting: no file changes.
  // It is given that size only once a page is cached (PAGE_CACHE_EMPTIED).
  pragmas += PAGE_CACHE_SIZED
  db.exec(pragmas)
  return db
}

// SQLite's page cache takes 20 pages (~88 KB) in one allocation whenever it fetches a page while
// empty under a limit of 3 pages or more, and every `cache_size` pragma reads the schema first,
// under the limit in force. So a connection's cache is held at two pages and emptied of what that
// read took, reads the header page (user_version), and only then gets its size: pages are
// allocated as they are read. A store opened for a getRecord uses ~10 pages; the allocation was
// ~40% of an open store's memory, with thousands open (BENCHMARKS.md, "Memory per open store,
// eleventh round").
const PAGE_CACHE_EMPTIED = 'PRAGMA cache_size = 2;PRAGMA shrink_memory;'
const PAGE_CACHE_SIZED = `PRAGMA user_version;PRAGMA cache_size = -${PAGE_CACHE_KIB};`

/**
 * Frees the pages a connection has cached (up to PAGE_CACHE_KIB), keeping its cache size, for a
 * connection left idle: its next reads fetch their pages again from the operating system's cache.
 * Returns false, leaving the cache as it was, while a statement of the connection is being
 * iterated or in a transaction, or if the database cannot be read.
 */
export function releasePageCache(db: Db): boolean {
  if (!db.open || db.inTransaction) return false
  try {
    db.exec(PAGE_CACHE_EMPTIED + PAGE_CACHE_SIZED)
    return true
  } catch {
    // A statement being iterated (better-sqlite3 refuses any other meanwhile: nothing ran), or
    // the file unreadable part way: the cache keeps its size, and its pages until the next try.
    try {
      db.exec(`PRAGMA cache_size = -${PAGE_CACHE_KIB}`)
    } catch {
      // as it was
    }
    return false
  }
}

// Every perConnection's map: a module-level list, a few entries (one per perConnection call).
const perConnectionMaps: Array<WeakMap<Db, unknown>> = []

/**
 * What `make` builds from a connection (its prepared statements), built on the connection's first
 * use and kept with it, for a module that reads through another's connection: the owner may
 * replace its connection (a store closed and reopened), and a statement belongs to one.
 */
export function perConnection<T>(make: (db: Db) => T): (db: Db) => T {
  const made = new WeakMap<Db, T>()
  perConnectionMaps.push(made)
  return (db) => {
    let value = made.get(db)
    if (value === undefined) made.set(db, (value = make(db)))
    return value
  }
}

/**
 * Lets go of what every perConnection built for a connection (its statements: ~3 KB each), as
 * for a connection left idle; they are built again on its next use. Whoever still holds one may
 * run it while the connection is open.
 */
export function forgetPerConnection(db: Db): void {
  for (const made of perConnectionMaps) made.delete(db)
}

function defaultSynchronous(): 'FULL' | 'NORMAL' {
  return process.env.HEARTH_SQLITE_SYNCHRONOUS?.toLowerCase() === 'full' ? 'FULL' : 'NORMAL'
}

export interface Migration {
  /** The migration's name; for an official migration exactly the official name (e.g. `001`: Kysely records the keys of the official migration maps). */
  name: string
  up(db: Db): void
}

export interface MigrationSet {
  /** Migrations the official PDS also runs, tracked in kysely_migration. */
  official: Migration[]
  /** Hearth's additions, tracked in hearth_migration. */
  hearth?: Migration[]
}

/** Brings a database up to date, in one transaction, creating the tracking tables as Kysely does. */
export function migrate(db: Db, set: MigrationSet): void {
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS "kysely_migration" ("name" varchar(255) not null primary key, "timestamp" varchar(255) not null)`)
    db.exec(
      `CREATE TABLE IF NOT EXISTS "kysely_migration_lock" ("id" varchar(255) not null primary key, "is_locked" integer default 0 not null)`,
    )
    db.exec(`INSERT OR IGNORE INTO "kysely_migration_lock" ("id", "is_locked") VALUES ('migration_lock', 0)`)
    db.exec(`CREATE TABLE IF NOT EXISTS "hearth_migration" ("name" varchar(255) not null primary key, "timestamp" varchar(255) not null)`)
    apply(db, 'kysely_migration', set.official)
    if (set.hearth) apply(db, 'hearth_migration', set.hearth)
  })
  run.immediate()
}

function apply(db: Db, table: string, migrations: Migration[]): void {
  const done = new Set((db.prepare(`SELECT "name" FROM "${table}"`).all() as Array<{ name: string }>).map((r) => r.name))
  const insert = db.prepare(`INSERT INTO "${table}" ("name", "timestamp") VALUES (?, ?)`)
  for (const m of migrations) {
    if (done.has(m.name)) continue
    m.up(db)
    insert.run(m.name, new Date().toISOString())
  }
}

/** Runs `fn` in an IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
export function writeTx<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate()
}

/**
 * `fn` as an IMMEDIATE transaction, as better-sqlite3's `db.transaction(fn).immediate` runs it
 * (rolled back if it throws; a savepoint when called inside another transaction), on three
 * statements of its own: the first `db.transaction` on a connection prepares nine (a BEGIN of
 * each kind and the savepoint's), ~35 µs and their memory on every store's first write.
 */
export function immediateTransaction<A extends unknown[]>(db: Db, fn: (...args: A) => void): (...args: A) => void {
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const rollback = db.prepare('ROLLBACK')
  let nested: ((...args: A) => void) | undefined
  return (...args: A): void => {
    if (db.inTransaction) return (nested ??= db.transaction(fn))(...args)
    begin.run()
    try {
      fn(...args)
      commit.run()
    } catch (err) {
      // SQLite may have rolled back already (a full disk, say); then there is nothing to undo.
      if (db.inTransaction) rollback.run()
      throw err
    }
  }
}

/**
 * Closes a WAL database as `db.close()` does (a checkpoint that syncs the WAL and the database
 * first), but leaves its `-wal` and `-shm` files in place. SQLite deletes them when the last
 * connection closes, and whoever opens the database next creates them again: on this machine
 * that was most of the cost of opening a store (two file creations, the shared-memory index
 * sized and mapped) and, on the first write, a sync of the new WAL's header and of its folder.
 * A WAL left in place is recovered by the next open (its frames are read back, as after a
 * crash) and written on after its last frame, with no sync. SQLite skips the deletion when
 * another connection still holds the database, and a read-only connection never checkpoints or
 * deletes on its close: so a read-only connection holds it while the writer closes. better-sqlite3
 * exposes neither SQLITE_FCNTL_PERSIST_WAL nor SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE.
 *
 * A WAL larger than `maxWalBytes` is emptied by the checkpoint instead (the next open reads back
 * the whole file, and a host of thousands of stores should not keep megabytes each), then given
 * one small transaction that rewrites `user_version` as it is: an empty WAL starts again with a
 * new header, which SQLite syncs with its folder on the next write, so that sync happens here,
 * off the request path, and the WAL kept is one page.
 */
export function closeKeepingWal(db: Db, path: string, maxWalBytes: number): void {
  if (!db.open) return
  let holder: Db | null = null
  try {
    if (fileSize(`${path}-wal`) > maxWalBytes) {
      db.pragma('wal_checkpoint(TRUNCATE)')
      db.pragma(`user_version = ${Number(db.pragma('user_version', { simple: true }))}`)
    } else if ((db.prepare('SELECT total_changes()').pluck().get() as number) > 0) {
      db.pragma('wal_checkpoint(PASSIVE)')
    }
    // (A connection that changed nothing leaves the WAL as the close before it checkpointed it.
    // Its frames, recovered at the open, count as not yet copied: a checkpoint would copy them
    // again and sync both files, and on a host whose store cache churns every read would pay it.)
    holder = new Database(path, { readonly: true, fileMustExist: true })
    // A read opens the holder's WAL and index: its lock is what keeps them.
    holder.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get()
  } catch {
    // e.g. the folder was removed: an ordinary close is all that is left to do
  }
  db.close()
  holder?.close()
}

function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}
