// `hearth backup` and `hearth restore`: the data directory as the configuration (PDS_* and
// ./.env) names it; see src/admin/backup.ts and restore.ts for what they guarantee.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { type CliContext, CliError, loadCliConfig, serverUrl, usageError } from './context.ts'
import { progressReporter } from './progress.ts'

export const BACKUP_USAGE = `Usage: hearth backup <dest-dir>
       hearth backup [--every <interval>] [--keep <n>] s3://<bucket>[/<prefix>]

Copies the whole data directory (every database, signing keys, blobs, secrets) into <dest-dir>,
which must be new or empty. Safe while the server runs: each database is copied as one
consistent snapshot, and the copies are made to agree with each other. The backup holds every
secret of the server: keep it as safe as the server itself.

To an S3-compatible bucket, the same backup is taken into a temporary folder ($TMPDIR) and
uploaded as s3://<bucket>/<prefix>/<UTC time>/. The bucket is reached with HEARTH_BACKUP_S3_ENDPOINT,
_REGION, _FORCE_PATH_STYLE, _ACCESS_KEY_ID and _SECRET_ACCESS_KEY, each falling back to its
PDS_BLOBSTORE_S3_* twin (the keys as a pair). Blobs kept in a bucket (PDS_BLOBSTORE_S3_BUCKET) are
not copied: they stay in their bucket.

  --keep <n>         after the upload, delete all but the newest <n> snapshots under the prefix
                     (default HEARTH_BACKUP_KEEP; unset keeps all)
  --every <interval> keep running, one backup every <interval> (30m, 6h, 1d...; default
                     HEARTH_BACKUP_EVERY) until SIGTERM or SIGINT; a failed run is reported and
                     the next one still happens
  --once             one backup even if HEARTH_BACKUP_EVERY is set
`

export const RESTORE_USAGE = `Usage: hearth restore <backup-dir | s3://bucket/prefix[/<snapshot>]> [--force] [--url <url>]

Puts a backup made by \`hearth backup\` in place as the data directory (PDS_DATA_DIRECTORY).
A data directory that is not empty is refused unless --force (with --force its contents are
moved into <data>/.pre-restore-<time>/ rather than deleted), and the server using it must be
stopped; an empty or new directory needs neither. From a bucket, the newest complete snapshot
under the prefix is restored (or the one named), reached as \`hearth backup\` reaches it.
`

const MB = 1024 * 1024

export async function backupCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { every: { type: 'string' }, keep: { type: 'string' }, once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    throw usageError((err as Error).message, BACKUP_USAGE)
  }
  if (parsed.values.help) {
    ctx.io.out(BACKUP_USAGE)
    return 0
  }
  const [dest, extra] = parsed.positionals
  if (!dest || extra !== undefined) throw usageError('backup needs exactly one destination directory', BACKUP_USAGE)
  const config = await loadCliConfig(ctx, { secrets: 'none' })
  const { backupDataDirectory, dataLayout, BackupError } = await import('../admin/backup.ts')
  const status = await import('../admin/backup-status.ts')
  const { hearthVersion } = await import('../version.ts')
  try {
    const { environmentWithDotenv } = await import('../config/index.ts')
    const env = environmentWithDotenv(ctx.env, ctx.cwd)
    const { parseS3Url, s3BackupTarget, backupToS3, s3Url } = await import('../admin/s3-backup.ts')
    const s3 = parseS3Url(dest)
    const keepText = parsed.values.keep ?? env.HEARTH_BACKUP_KEEP?.trim()
    const everyText = parsed.values.once ? undefined : (parsed.values.every ?? (env.HEARTH_BACKUP_EVERY?.trim() || undefined))
    const keep = keepText === undefined || keepText === '' ? undefined : Number(keepText)
    if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) throw usageError(`--keep: not a whole number of at least 1: ${keepText}`, BACKUP_USAGE)
    const every = everyText === undefined ? undefined : parseInterval(everyText)
    if (every === null) throw usageError(`--every: not an interval (e.g. 30m, 6h, 1d): ${everyText}`, BACKUP_USAGE)
    if (!s3) {
      if (parsed.values.every || parsed.values.keep) throw usageError('--every and --keep need an s3:// destination', BACKUP_USAGE)
      const progress = progressReporter(ctx.io, 'backup')
      const layout = dataLayout(config)
      const report = noted(status, layout.dataDirectory, resolvePath(ctx, dest), 'command', () =>
        backupDataDirectory(layout, resolvePath(ctx, dest), { hearthVersion: hearthVersion(), onProgress: (p) => progress.update(p) }),
      )
      progress.done()
      printBackup(ctx, config.db.dataDirectory, await report)
      return 0
    }
    const target = s3BackupTarget(s3, env)
    const layout = dataLayout(config)
    const once = async () => {
      const progress = phasedProgress(ctx, { snapshot: 'backup', upload: 'upload' })
      const report = await noted(status, layout.dataDirectory, s3Url(target), every === undefined ? 'command' : 'schedule', () =>
        backupToS3(layout, target, { hearthVersion: hearthVersion(), keep, onProgress: progress.update }),
      )
      progress.done()
      printBackup(ctx, config.db.dataDirectory, report)
      if (report.deleted.length > 0) ctx.io.out(`  deleted ${report.deleted.length} older snapshot(s), keeping ${keep}: ${report.deleted.join(', ')}\n`)
    }
    if (every === undefined) {
      await once()
      return 0
    }
    // A failed run (the bucket unreachable, the temp folder full) is reported; the next still comes.
    // The dashboard learns the next time from the status file (this process is not the server's).
    const noteNext = (nextAt: Date | null) =>
      status.updateBackupStatus(layout.dataDirectory, ({ schedule: _, ...st }) =>
        nextAt ? { ...st, schedule: { everyMs: every, nextAt: nextAt.toISOString(), dest: s3Url(target), pid: process.pid, updatedAt: new Date().toISOString() } } : st,
      )
    return await schedule(ctx, every, once, (err) => ctx.io.err(`hearth: backup failed: ${err instanceof Error ? err.message : String(err)}\n`), noteNext)
  } catch (err) {
    if (err instanceof BackupError) throw new CliError(err.message)
    throw err
  }
}

/** Runs one backup with its start and outcome noted in the data directory's status file (for the dashboard). */
async function noted<R extends { bytes: number; accounts: number; dest: string }>(
  status: typeof import('../admin/backup-status.ts'),
  dataDirectory: string,
  dest: string,
  by: 'command' | 'schedule',
  run: () => R | Promise<R>,
): Promise<R> {
  const startedAt = new Date().toISOString()
  status.noteBackupStarted(dataDirectory, { startedAt, dest, by })
  try {
    const report = await run()
    status.noteBackupFinished(dataDirectory, { startedAt, finishedAt: new Date().toISOString(), dest: report.dest, ok: true, bytes: report.bytes, accounts: report.accounts, by })
    return report
  } catch (err) {
    status.noteBackupFinished(dataDirectory, { startedAt, finishedAt: new Date().toISOString(), dest, ok: false, error: err instanceof Error ? err.message : String(err), by })
    throw err
  }
}

function printBackup(ctx: CliContext, dataDirectory: string, report: import('../admin/backup.ts').BackupReport): void {
  for (const w of report.warnings) ctx.io.err(`warning: ${w}\n`)
  ctx.io.out(
    `Backup of ${dataDirectory} written to ${report.dest}\n` +
      `  ${report.accounts} account(s), ${report.databases} database(s), ${report.files} other file(s), ${(report.bytes / MB).toFixed(1)} MB\n` +
      (report.trimmedEvents > 0 ? `  ${report.trimmedEvents} firehose event(s) of writes made during the backup left out\n` : ''),
  )
}

/** One progress line per step of a command (each timed from its own start), in the order they come. */
function phasedProgress<P extends string>(ctx: CliContext, labels: Record<P, string>) {
  let current: { phase: P; reporter: ReturnType<typeof progressReporter> } | null = null
  return {
    update: (phase: P, p: import('../admin/backup.ts').CopyProgress) => {
      if (current?.phase !== phase) {
        current?.reporter.done()
        current = { phase, reporter: progressReporter(ctx.io, labels[phase]) }
      }
      current.reporter.update(p)
    },
    done: () => current?.reporter.done(),
  }
}

/** `90s`, `30m`, `6h`, `1d` → milliseconds; null when not one of those. */
export function parseInterval(text: string): number | null {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim())
  if (!m) return null
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
  return ms > 0 ? ms : null
}

/**
 * Runs `job` now and then every `every` ms (measured from each start, so the times do not
 * drift) until SIGTERM or SIGINT, which let a running backup finish first.
 */
async function schedule(
  ctx: CliContext,
  every: number,
  job: () => Promise<void>,
  onError: (err: unknown) => void,
  onNext: (at: Date | null) => void = () => {},
): Promise<number> {
  let stopping = false
  let wake: (() => void) | null = null
  const stop = (signal: NodeJS.Signals) => {
    if (!stopping) ctx.io.err(`${signal}: stopping after the current backup\n`)
    stopping = true
    wake?.()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  try {
    ctx.io.out(`Backing up every ${every / 1000} s until stopped\n`)
    while (!stopping) {
      const started = Date.now()
      try {
        await job()
      } catch (err) {
        onError(err)
      }
      const wait = Math.max(0, started + every - Date.now())
      if (stopping) break
      onNext(new Date(Date.now() + wait))
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = null
    }
    return 0
  } finally {
    onNext(null)
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
  }
}

export async function restoreCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { force: { type: 'boolean' }, url: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    throw usageError((err as Error).message, RESTORE_USAGE)
  }
  if (parsed.values.help) {
    ctx.io.out(RESTORE_USAGE)
    return 0
  }
  const [from, extra] = parsed.positionals
  if (!from || extra !== undefined) throw usageError('restore needs exactly one backup directory or s3:// location', RESTORE_USAGE)
  const config = await loadCliConfig(ctx, { secrets: 'none' })
  // Restore runs on the server's machine: look at its listening port unless told otherwise. An
  // empty (or missing) data directory is no running server's (a server fills its directory as it
  // starts), so restoring into one needs no stop: e.g. a new machine's first restore.
  if (!isEmptyDirectory(config.db.dataDirectory)) {
    const url = parsed.values.url ? serverUrl(config, parsed.values.url) : `http://127.0.0.1:${config.service.port}`
    if (await answers(url)) throw new CliError(`a server is running at ${url}: stop it before restoring over its data`)
  }
  const { dataLayout, BackupError } = await import('../admin/backup.ts')
  const { restoreDataDirectory } = await import('../admin/restore.ts')
  try {
    const { parseS3Url, s3BackupTarget, restoreFromS3 } = await import('../admin/s3-backup.ts')
    const s3 = parseS3Url(from)
    if (s3) {
      const { environmentWithDotenv } = await import('../config/index.ts')
      const progress = phasedProgress(ctx, { download: 'download', restore: 'restore' })
      const report = await restoreFromS3(s3BackupTarget(s3, environmentWithDotenv(ctx.env, ctx.cwd)), dataLayout(config), {
        force: parsed.values.force,
        onProgress: progress.update,
      })
      progress.done()
      if (report.previous) ctx.io.out(`The data directory's previous contents were moved to ${report.previous}\n`)
      ctx.io.out(
        `Restored ${report.url} (${report.manifest.accounts} account(s), ${report.files} file(s)) into ${report.dataDirectory}\n` +
          'Start the server with `hearth serve`.\n',
      )
      return 0
    }
    const progress = progressReporter(ctx.io, 'restore')
    const report = restoreDataDirectory(resolvePath(ctx, from), dataLayout(config), {
      force: parsed.values.force,
      onProgress: (p) => progress.update(p),
    })
    progress.done()
    if (report.previous) ctx.io.out(`The data directory's previous contents were moved to ${report.previous}\n`)
    ctx.io.out(
      `Restored the backup of ${report.manifest.createdAt} (${report.manifest.accounts} account(s), ${report.files} file(s)) into ${report.dataDirectory}\n` +
        'Start the server with `hearth serve`.\n',
    )
    return 0
  } catch (err) {
    if (err instanceof BackupError) throw new CliError(err.message)
    throw err
  }
}

function isEmptyDirectory(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
  }
}

function resolvePath(ctx: CliContext, p: string): string {
  return path.resolve(ctx.cwd, p)
}

/** Whether a PDS answers its health check at `url` (quickly: a stopped server refuses at once). */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('/xrpc/_health', url), { signal: AbortSignal.timeout(2000) })
    await res.body?.cancel()
    // A reverse proxy in front of a stopped server answers too, but not with a healthy 200.
    return res.ok
  } catch {
    return false
  }
}
