// `hearth restore`: puts a backup made by `hearth backup` in place as the data directory.
//
// Everything is checked before anything is touched: the manifest, the layout (the target server
// must keep its databases where the backup's did) and every database (PRAGMA quick_check). A
// data directory that holds anything is refused unless `force`; with `force` its contents are
// moved into `<data>/.pre-restore-<time>/` rather than deleted (inside the directory, because
// the data directory is often a mount point, which cannot be renamed), for the operator to
// delete once satisfied. The server must be stopped: the caller checks that.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import path from 'node:path'
import { openDb } from '../storage/sqlite.ts'
import { BACKUP_FORMAT, BackupError, type BackupManifest, type CopyProgress, type DataLayout, isSqliteFile, MANIFEST_NAME, PRE_RESTORE_PREFIX } from './backup.ts'

export interface RestoreReport {
  manifest: BackupManifest
  dataDirectory: string
  files: number
  /** Where the data directory's previous contents went (with force), or null. */
  previous: string | null
}

export function readManifest(backupDir: string): BackupManifest {
  const file = path.join(backupDir, MANIFEST_NAME)
  if (!existsSync(file)) throw new BackupError(`${backupDir} is not a complete Hearth backup (no ${MANIFEST_NAME})`)
  let manifest: BackupManifest
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as BackupManifest
  } catch {
    throw new BackupError(`${file} is not valid JSON`)
  }
  if (manifest.format !== BACKUP_FORMAT || manifest.version !== 1) throw new BackupError(`${file} is not a Hearth backup manifest this version reads`)
  return manifest
}

function files(dir: string, rel = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? path.join(rel, e.name) : e.name
    if (e.isDirectory()) out.push(...files(dir, r))
    else if (e.isFile()) out.push(r)
  }
  return out
}

export function restoreDataDirectory(
  backupDir: string,
  layout: DataLayout,
  opts: { force?: boolean; now?: () => Date; onProgress?: (p: CopyProgress) => void } = {},
): RestoreReport {
  const from = path.resolve(backupDir)
  const manifest = readManifest(from)
  for (const key of ['accountDb', 'sequencerDb', 'actorsDir', 'blobsDir'] as const) {
    if (manifest.layout[key] !== layout[key]) {
      throw new BackupError(
        `the backup keeps ${key} at ${manifest.layout[key]} but this configuration expects ${layout[key]}; restore with the same PDS_* locations`,
      )
    }
  }
  // Side files are not part of a backup (its databases are in rollback-journal mode).
  const list = files(from).filter((f) => f !== MANIFEST_NAME && !/-(wal|shm|journal)$/.test(f))
  for (const rel of list) {
    const file = path.join(from, rel)
    if (!isSqliteFile(file)) continue
    let result: unknown
    try {
      const db = openDb(file, { readonly: true })
      try {
        result = db.pragma('quick_check', { simple: true })
      } finally {
        db.close()
      }
    } catch (err) {
      result = (err as Error).message
    }
    if (result !== 'ok') throw new BackupError(`${rel} in the backup is damaged (${String(result)})`)
  }

  const target = layout.dataDirectory
  let previous: string | null = null
  if (existsSync(target)) {
    const present = readdirSync(target)
    if (present.length > 0) {
      if (!opts.force) throw new BackupError(`the data directory ${target} is not empty; pass --force to restore over it (its contents are kept aside)`)
      previous = path.join(target, `${PRE_RESTORE_PREFIX}${(opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-')}`)
      mkdirSync(previous, { mode: 0o700 })
      for (const name of present) {
        if (name.startsWith(PRE_RESTORE_PREFIX)) continue
        renameSync(path.join(target, name), path.join(previous, name))
      }
    }
  }
  mkdirSync(target, { recursive: true, mode: 0o700 })
  const totalBytes = opts.onProgress ? list.reduce((sum, rel) => sum + statSync(path.join(from, rel)).size, 0) : 0
  let bytes = 0
  let items = 0
  for (const rel of list) {
    const src = path.join(from, rel)
    const dest = path.join(target, rel)
    mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 })
    copyFileSync(src, dest)
    const stat = statSync(src)
    chmodSync(dest, stat.mode & 0o777)
    bytes += stat.size
    opts.onProgress?.({ items: ++items, bytes, totalBytes })
  }
  return { manifest, dataDirectory: target, files: list.length, previous }
}
