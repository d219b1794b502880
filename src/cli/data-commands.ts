// `hearth backup` and `hearth restore`: the data directory as the configuration (PDS_* and
// ./.env) names it; see src/admin/backup.ts and restore.ts for what they guarantee.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { type CliContext, CliError, loadCliConfig, serverUrl, usageError } from './context.ts'
import { progressReporter } from './progress.ts'

export const BACKUP_USAGE = `Usage: hearth backup <dest-dir>

Copies the whole data directory (every database, signing keys, blobs, secrets) into <dest-dir>,
which must be new or empty. Safe while the server runs: each database is copied as one
consistent snapshot, and the copies are made to agree with each other. The backup holds every
secret of the server: keep it as safe as the server itself.
`

export const RESTORE_USAGE = `Usage: hearth restore <backup-dir> [--force] [--url <url>]

Puts a backup made by \`hearth backup\` in place as the data directory (PDS_DATA_DIRECTORY).
A data directory that is not empty is refused unless --force (with --force its contents are
moved into <data>/.pre-restore-<time>/ rather than deleted), and the server using it must be
stopped; an empty or new directory needs neither.
`

const MB = 1024 * 1024

export async function backupCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h' } } })
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
  const { hearthVersion } = await import('../version.ts')
  try {
    const progress = progressReporter(ctx.io, 'backup')
    const report = backupDataDirectory(dataLayout(config), resolvePath(ctx, dest), {
      hearthVersion: hearthVersion(),
      onProgress: (p) => progress.update(p),
    })
    progress.done()
    for (const w of report.warnings) ctx.io.err(`warning: ${w}\n`)
    ctx.io.out(
      `Backup of ${config.db.dataDirectory} written to ${report.dest}\n` +
        `  ${report.accounts} account(s), ${report.databases} database(s), ${report.files} other file(s), ${(report.bytes / MB).toFixed(1)} MB\n` +
        (report.trimmedEvents > 0 ? `  ${report.trimmedEvents} firehose event(s) of writes made during the backup left out\n` : ''),
    )
    return 0
  } catch (err) {
    if (err instanceof BackupError) throw new CliError(err.message)
    throw err
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
  if (!from || extra !== undefined) throw usageError('restore needs exactly one backup directory', RESTORE_USAGE)
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
