// `hearth backup`: a consistent copy of a data directory, taken while the server runs.
//
// Each SQLite database is copied with VACUUM INTO: one read transaction, so each copy is a
// consistent snapshot of its database however busy the server is (WAL readers never wait for
// writers, and unlike the step-wise backup API it never restarts because a writer got in).
// Other files (signing keys, blobs, the local-mode secrets) are copied as they are.
//
// The databases are not all read at the same instant, so the copies are taken in an order that
// lets the backup be made whole afterwards:
//   1. the sequencer's last seq, S0 (every event up to it describes a commit already stored);
//   2. account.sqlite; the accounts it holds are the backup's accounts;
//   3. each of those accounts' actor stores (an actor store of an account created after step 2 is
//      left out, and so is anything else about that account);
//   4. sequencer.sqlite, then trimmed: its events after S0 that describe a commit the copied
//      actor store does not hold, or an account the backup does not hold, are deleted; so the
//      copied event log never announces what the copied repos lack, and every copied commit is
//      in the log;
//   5. everything else in the data directory (other databases, blob files, keys, secrets);
//   6. account.sqlite's repo_root mirror is set from the copied actor stores.
// The manifest, hearth-backup.json, is written last: a directory without one is an unfinished
// backup, and restore refuses it.
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { decodeCbor } from '../repo/cbor.ts'
import { type Db, openDb } from '../storage/sqlite.ts'
import { BACKUP_STATUS_NAME } from './backup-status.ts'

export const MANIFEST_NAME = 'hearth-backup.json'
export const BACKUP_FORMAT = 'hearth-backup'
/** Where restore --force keeps what the data directory held (inside it: a mount point cannot be renamed). */
export const PRE_RESTORE_PREFIX = '.pre-restore-'
/** In the data directory: when and where the last backup of it was written (for the metrics). */
export const LAST_BACKUP_NAME = 'hearth-last-backup.json'

/** Where a server keeps its data, as relative paths inside the data directory. */
export interface DataLayout {
  dataDirectory: string
  accountDb: string
  sequencerDb: string
  actorsDir: string
  blobsDir: string
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT
  version: 1
  createdAt: string
  hearthVersion: string
  /** The layout relative to the data directory, so restore can check the target agrees. */
  layout: Omit<DataLayout, 'dataDirectory'>
  accounts: number
  databases: number
  files: number
  bytes: number
}

export interface BackupReport extends BackupManifest {
  dest: string
  /** Firehose events left out because they describe writes made while the backup ran. */
  trimmedEvents: number
  warnings: string[]
}

export class BackupError extends Error {}

/**
 * The layout of a configured server; every location must lie inside the data directory (the
 * backup is a copy of that one directory).
 */
export function dataLayout(cfg: {
  db: { dataDirectory: string; accountDbLocation: string; sequencerDbLocation: string }
  actorStore: { directory: string }
  // Blobs in an S3 bucket are the bucket's own concern; the layout then names the (unused)
  // default blob folder, so a backup of either kind restores onto the other's layout check.
  blobstore: { provider: 'disk'; location: string; tempLocation: string } | { provider: 's3' }
}): DataLayout {
  const root = path.resolve(cfg.db.dataDirectory)
  const rel = (name: string, p: string) => {
    const r = path.relative(root, path.resolve(p))
    if (r === '' || r.startsWith('..') || path.isAbsolute(r)) {
      throw new BackupError(`${name} (${p}) is outside the data directory ${root}; backup and restore cover the data directory only`)
    }
    return r
  }
  const blobs = cfg.blobstore.provider === 'disk' ? cfg.blobstore : { location: path.join(root, 'blocks'), tempLocation: '' }
  if (blobs.tempLocation) rel('the blob temp directory', blobs.tempLocation)
  return {
    dataDirectory: root,
    accountDb: rel('the account database', cfg.db.accountDbLocation),
    sequencerDb: rel('the sequencer database', cfg.db.sequencerDbLocation),
    actorsDir: rel('the actor store directory', cfg.actorStore.directory),
    blobsDir: rel('the blob directory', blobs.location),
  }
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1')
const SIDE_FILE = /-(wal|shm|journal)$/

export function isSqliteFile(file: string): boolean {
  let fd: number | undefined
  try {
    fd = openSync(file, 'r')
    const head = Buffer.alloc(SQLITE_MAGIC.length)
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(SQLITE_MAGIC)
  } catch {
    return false
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** A consistent copy of one database (see the top of this file). */
function snapshotDb(src: string, dest: string): number {
  mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 })
  const db = openDb(src, { busyTimeoutMs: 30_000 })
  try {
    db.prepare('VACUUM INTO ?').run(dest)
  } finally {
    db.close()
  }
  return statSync(dest).size
}

function copyFile(src: string, dest: string): number | null {
  mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 })
  try {
    copyFileSync(src, dest)
    chmodSync(dest, statSync(src).mode & 0o777)
  } catch (err) {
    // Removed between listing and copying (a blob deleted, a temp upload moved): not data the backup needs.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  return statSync(dest).size
}

/** Files under `dir`, as paths relative to it, depth first; missing directories are empty. */
function* walk(dir: string, rel = ''): Generator<string> {
  let entries
  try {
    entries = readdirSync(path.join(dir, rel), { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  for (const e of entries) {
    const r = rel ? path.join(rel, e.name) : e.name
    if (e.isDirectory()) yield* walk(dir, r)
    else if (e.isFile()) yield r
  }
}

export interface BackupOptions {
  hearthVersion?: string
  now?: () => Date
  /** Called after each file copied, with the running totals and the data directory's size. */
  onProgress?: (p: CopyProgress) => void
}

/** Where a long copy (backup, restore) stands. */
export interface CopyProgress {
  items: number
  bytes: number
  /** The bytes there are to copy, measured before starting (the data may grow meanwhile). */
  totalBytes: number
}

/** The size of every file under `dir` (0 when it does not exist). */
export function directoryBytes(dir: string): number {
  let total = 0
  for (const rel of walk(dir)) {
    try {
      total += statSync(path.join(dir, rel)).size
    } catch {
      // gone meanwhile
    }
  }
  return total
}

/** Copies the data directory of `layout` into `dest` (which must not exist, or be empty). */
export function backupDataDirectory(layout: DataLayout, dest: string, opts: BackupOptions = {}): BackupReport {
  const root = layout.dataDirectory
  const out = path.resolve(dest)
  const src = (rel: string) => path.join(root, rel)
  const dst = (rel: string) => path.join(out, rel)
  if (!existsSync(src(layout.accountDb))) throw new BackupError(`no account database at ${src(layout.accountDb)}: is ${root} a Hearth data directory?`)
  if (out === root || out.startsWith(root + path.sep)) throw new BackupError('the backup cannot go inside the data directory')
  if (existsSync(out) && readdirSync(out).length > 0) throw new BackupError(`${out} is not empty; choose a new directory`)
  mkdirSync(out, { recursive: true, mode: 0o700 })

  const warnings: string[] = []
  let databases = 0
  let files = 0
  let bytes = 0
  const done = new Set<string>()
  const totalBytes = opts.onProgress ? directoryBytes(root) : 0
  const count = (rel: string, size: number | null, db = false) => {
    done.add(rel)
    if (size === null) return
    bytes += size
    if (db) databases++
    else files++
    opts.onProgress?.({ items: databases + files, bytes, totalBytes })
  }

  // 1. Events up to S0 describe commits already stored in the actor stores.
  const s0 = readScalar(src(layout.sequencerDb), 'SELECT coalesce(max("seq"), 0) AS v FROM repo_seq', 0)

  // 2. The accounts.
  count(layout.accountDb, snapshotDb(src(layout.accountDb), dst(layout.accountDb)), true)
  const accountDb = openDb(dst(layout.accountDb))
  try {
    const dids = new Set((accountDb.prepare('SELECT "did" FROM "actor"').pluck().all() as string[]))

    // 3. Their actor stores (directory <actors>/<xx>/<did>/).
    const heads = new Map<string, { cid: string; rev: string }>()
    let strays = 0
    for (const rel of walk(src(layout.actorsDir))) {
      const parts = rel.split(path.sep)
      const did = parts.length >= 3 ? parts[1] : null
      const relFromRoot = path.join(layout.actorsDir, rel)
      if (SIDE_FILE.test(rel)) continue
      if (did === null || !dids.has(did)) {
        if (parts.at(-1) === 'store.sqlite') strays++
        continue
      }
      if (isSqliteFile(src(relFromRoot))) {
        count(relFromRoot, snapshotDb(src(relFromRoot), dst(relFromRoot)), true)
        if (parts.at(-1) === 'store.sqlite') {
          const head = readRow(dst(relFromRoot), 'SELECT "cid", "rev" FROM repo_root WHERE "did" = ?', did) as
            | { cid: string; rev: string }
            | undefined
          if (head) heads.set(did, head)
        }
      } else {
        count(relFromRoot, copyFile(src(relFromRoot), dst(relFromRoot)))
      }
    }
    if (strays > 0) warnings.push(`${strays} actor store(s) without an account (created during the backup) were left out`)
    const repoless = [...dids].filter((d) => !heads.has(d)).length
    if (repoless > 0) warnings.push(`${repoless} account(s) have no repository in the backup`)

    // 4. The event log, trimmed to what the copied repos hold.
    let trimmedEvents = 0
    if (existsSync(src(layout.sequencerDb))) {
      count(layout.sequencerDb, snapshotDb(src(layout.sequencerDb), dst(layout.sequencerDb)), true)
      trimmedEvents = trimEvents(dst(layout.sequencerDb), s0, dids, heads)
    }

    // 5. Everything else: other databases, blob files, keys, secrets.
    for (const rel of walk(root)) {
      if (done.has(rel) || SIDE_FILE.test(rel)) continue
      if (rel === layout.accountDb || rel === layout.sequencerDb) continue
      if (rel.startsWith(layout.actorsDir + path.sep) || rel.startsWith(PRE_RESTORE_PREFIX)) continue
      // This run's own "running" mark (and any backup's status) describes the source, not the copy.
      if (rel.startsWith(BACKUP_STATUS_NAME)) continue
      if (isSqliteFile(src(rel))) count(rel, snapshotDb(src(rel), dst(rel)), true)
      else count(rel, copyFile(src(rel), dst(rel)))
    }

    // 6. The repo_root mirror agrees with the copied repos.
    const setRoot = accountDb.prepare('UPDATE "repo_root" SET "cid" = ?, "rev" = ? WHERE "did" = ?')
    accountDb.transaction(() => {
      for (const [did, head] of heads) setRoot.run(head.cid, head.rev, did)
    })()

    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      version: 1,
      createdAt: (opts.now?.() ?? new Date()).toISOString(),
      hearthVersion: opts.hearthVersion ?? 'unknown',
      layout: { accountDb: layout.accountDb, sequencerDb: layout.sequencerDb, actorsDir: layout.actorsDir, blobsDir: layout.blobsDir },
      accounts: dids.size,
      databases,
      files,
      bytes,
    }
    accountDb.close()
    settleCopies(out)
    writeFileSync(path.join(out, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
    try {
      writeFileSync(path.join(root, LAST_BACKUP_NAME), `${JSON.stringify({ createdAt: manifest.createdAt, dest: out })}\n`, { mode: 0o600 })
    } catch (err) {
      warnings.push(`could not note the backup in ${root} (${(err as Error).message}): the backup age metric will not see it`)
    }
    return { ...manifest, dest: out, trimmedEvents, warnings }
  } finally {
    if (accountDb.open) accountDb.close()
  }
}

/**
 * Deletes, from the copied event log, events after `s0` about accounts the backup lacks or
 * about commits (#commit, #sync) newer than the copied repo. Returns how many went.
 */
function trimEvents(file: string, s0: number, dids: Set<string>, heads: Map<string, { rev: string }>): number {
  const db = openDb(file)
  try {
    const rows = db.prepare('SELECT "seq", "did", "eventType", "event" FROM repo_seq WHERE "seq" > ?').all(s0) as Array<{
      seq: number
      did: string
      eventType: string
      event: Uint8Array
    }>
    const drop: number[] = []
    for (const row of rows) {
      if (!dids.has(row.did)) {
        drop.push(row.seq)
        continue
      }
      if (row.eventType !== 'append' && row.eventType !== 'sync') continue
      const rev = (decodeCbor(row.event) as { rev?: unknown }).rev
      const head = heads.get(row.did)
      if (!head || typeof rev !== 'string' || rev > head.rev) drop.push(row.seq)
    }
    const del = db.prepare('DELETE FROM repo_seq WHERE "seq" = ?')
    db.transaction(() => {
      for (const seq of drop) del.run(seq)
    })()
    return drop.length
  } finally {
    db.close()
  }
}

function withDb<T>(file: string, fn: (db: Db) => T): T {
  const db = openDb(file, { busyTimeoutMs: 30_000 })
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

function readScalar(file: string, sql: string, fallback: number): number {
  if (!existsSync(file)) return fallback
  return withDb(file, (db) => (db.prepare(sql).get() as { v: number }).v)
}

function readRow(file: string, sql: string, ...args: unknown[]): unknown {
  return withDb(file, (db) => db.prepare(sql).get(...args))
}

/**
 * Every copied database in rollback-journal mode, with no -wal or -shm beside it: the backup is
 * then plain files, readable (even read-only, as restore checks them) without writing anything
 * next to them. The server puts each back into WAL mode when it opens it.
 */
function settleCopies(dir: string): void {
  for (const rel of walk(dir)) {
    const file = path.join(dir, rel)
    if (SIDE_FILE.test(rel) || !isSqliteFile(file)) continue
    const db = openDb(file)
    try {
      db.pragma('journal_mode = DELETE')
    } finally {
      db.close()
    }
  }
}
