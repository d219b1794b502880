// The dashboard's backups panel: the last backup (when, where, size, result; taken by the
// dashboard, `hearth backup`, or its --every schedule, as the data directory's status file
// says), the next scheduled one, and "start a backup now" to HEARTH_BACKUP_DESTINATION, run in
// a worker thread (src/admin/backup-runner.ts) with its progress on /admin/backup, a page that
// reloads itself (no script) until the run is over.
import type { ServerResponse } from 'node:http'
import { BackupError, dataLayout } from '../../admin/backup.ts'
import { type BackupStatus, readBackupStatus } from '../../admin/backup-status.ts'
import { BackupRunner, processAlive, type RunningBackup } from '../../admin/backup-runner.ts'
import type { CoreServices } from '../../core-services.ts'
import { formatBytes, html, type Html, sendPage } from './html.ts'

export interface Backups {
  /** Null when the data directory's layout cannot be backed up (the reason in `problem`). */
  runner: BackupRunner | null
  problem: string | null
  dataDirectory: string
  every: string | null
}

export function createBackups(s: Pick<CoreServices, 'config' | 'logger'>): Backups {
  const cfg = s.config
  const b = cfg.hearth.backup
  let runner: BackupRunner | null = null
  let problem: string | null = null
  try {
    runner = new BackupRunner({
      layout: dataLayout(cfg),
      destination: b.destination,
      keep: b.keep ?? undefined,
      env: b.s3Env,
      hearthVersion: cfg.service.version,
      onFinished: (run) => {
        if (run.ok) s.logger.info({ dest: run.dest, bytes: run.bytes }, 'backup from the dashboard written')
        else s.logger.error({ dest: run.dest, err: run.error }, 'backup from the dashboard failed')
      },
    })
  } catch (err) {
    if (!(err instanceof BackupError)) throw err
    problem = err.message
  }
  return { runner, problem, dataDirectory: cfg.db.dataDirectory, every: b.every }
}

export interface BackupsView {
  destination: string | null
  problem: string | null
  status: BackupStatus
  /** A run of this server in progress. */
  running: RunningBackup | null
  every: string | null
  now: number
}

export function backupsView(b: Backups): BackupsView {
  return {
    destination: b.runner?.opts.destination ?? null,
    problem: b.problem,
    status: readBackupStatus(b.dataDirectory),
    running: b.runner?.running ?? null,
    every: b.every,
    now: Date.now(),
  }
}

const when = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`
const ORIGIN = { command: 'hearth backup', schedule: 'the schedule (hearth backup --every)', dashboard: 'this dashboard' }

function everyText(ms: number): string {
  for (const [unit, size] of [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000]] as const) {
    if (ms % size === 0) return `${ms / size} ${unit}${ms / size === 1 ? '' : 's'}`
  }
  return `${Math.round(ms / 1000)} seconds`
}

/** A run in progress, in words; from this server, or another process's mark. */
function progressText(v: BackupsView): Html | null {
  const r = v.running
  if (r) {
    const p = r.progress
    const pct = p && p.totalBytes > 0 ? Math.min(100, Math.floor((p.bytes / p.totalBytes) * 100)) : null
    const step = r.phase === 'upload' ? 'Uploading' : r.phase === 'snapshot' ? 'Copying the data directory' : 'Starting'
    return html`<p role="status"><strong>Backup running</strong> since ${when(r.startedAt)}, to <code>${r.destination}</code>: ${step}${p ? `, ${p.items} files, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}` : ''}.</p>
${pct !== null ? html`<progress max="100" value="${pct}" aria-label="Backup progress">${pct}%</progress>` : html`<progress aria-label="Backup progress"></progress>`}`
  }
  const other = v.status.running
  if (other && other.by !== 'dashboard' && processAlive(other.pid)) {
    return html`<p role="status"><strong>Backup running</strong> in ${ORIGIN[other.by] ?? other.by} (process ${other.pid}) since ${when(other.startedAt)}, to <code>${other.dest}</code>.</p>`
  }
  return null
}

function lastRunFacts(v: BackupsView): Html {
  const last = v.status.lastRun
  if (!last) return html`<dt>Last backup</dt><dd>none recorded in this data directory</dd>`
  return html`<dt>Last backup</dt><dd>${when(last.finishedAt)} ${last.ok ? html`<span class="badge ok">succeeded</span>` : html`<span class="badge bad">failed</span>`} <span class="muted">by ${ORIGIN[last.by] ?? last.by}, took ${Math.max(0, Math.round((Date.parse(last.finishedAt) - Date.parse(last.startedAt)) / 1000))} s</span></dd>
<dt>Where</dt><dd><code>${last.dest}</code></dd>
${last.ok ? html`<dt>Size</dt><dd>${formatBytes(last.bytes ?? null)}${last.accounts !== undefined ? `, ${last.accounts} account${last.accounts === 1 ? '' : 's'}` : ''}</dd>` : html`<dt>Error</dt><dd>${last.error ?? 'unknown'}</dd>`}`
}

function nextFacts(v: BackupsView): Html {
  const sched = v.status.schedule
  if (sched) {
    const next = Date.parse(sched.nextAt)
    // The scheduler writes its next time after each run; long past it, it is likely not running.
    const overdue = v.now - next > Math.min(sched.everyMs, 60 * 60_000) + 5 * 60_000
    return html`<dt>Next backup</dt><dd>${when(sched.nextAt)} <span class="muted">(every ${everyText(sched.everyMs)}, to <code>${sched.dest}</code>)</span>
${overdue ? html`<br><span class="badge bad">overdue</span> <span class="muted">The scheduler (process ${sched.pid}) has not reported since ${when(sched.updatedAt)}: check that <code>hearth backup --every</code> still runs.</span>` : ''}</dd>`
  }
  if (v.every) {
    return html`<dt>Next backup</dt><dd>not scheduled: <code>HEARTH_BACKUP_EVERY=${v.every}</code> is set, but no <code>hearth backup --every</code> process has reported in. Run it as a service (see the README's backups section).</dd>`
  }
  return html`<dt>Next backup</dt><dd>none scheduled <span class="muted">(<code>hearth backup --every 6h --keep 7 s3://bucket/prefix</code> as a service schedules them)</span></dd>`
}

export function backupsPanel(v: BackupsView, form: (action: string, fields: Html, button: string, cls?: string, label?: string) => Html): Html {
  const running = progressText(v)
  const start = v.problem
    ? html`<p class="muted">Backups cannot be started here: ${v.problem}</p>`
    : !v.destination
      ? html`<p class="muted">To start backups here, set <code>HEARTH_BACKUP_DESTINATION</code> to a directory (each backup goes into a new dated folder in it) or to <code>s3://bucket/prefix</code>, and restart.</p>`
      : running
        ? html`<p><a href="/admin/backup">Follow its progress</a></p>`
        : form('start-backup', html``, 'Start a backup now', 'secondary')
  return html`<section aria-labelledby="backups"><h2 id="backups">Backups</h2>
${running ?? ''}
<dl class="facts">${lastRunFacts(v)}
${nextFacts(v)}
<dt>Destination</dt><dd>${v.destination ? html`<code>${v.destination}</code>` : 'not set'}</dd></dl>
${start}</section>`
}

/** GET /admin/backup: the run in progress (reloading itself every 2 s), or how the last one ended. */
export function backupProgressPage(res: ServerResponse, serviceName: string, v: BackupsView): void {
  const running = progressText(v)
  const last = v.status.lastRun
  sendPage(res, {
    title: `${serviceName}: backup`,
    wide: true,
    head: running ? html`<meta http-equiv="refresh" content="2">` : undefined,
    body: html`<h1>Backup</h1>
${running ?? (last
    ? last.ok
      ? html`<p class="notice" role="status">The last backup succeeded: ${formatBytes(last.bytes ?? null)} written to <code>${last.dest}</code> at ${when(last.finishedAt)}.</p>`
      : html`<p class="error" role="alert">The last backup failed at ${when(last.finishedAt)}: ${last.error ?? 'unknown error'}</p>`
    : html`<p>No backup has run yet.</p>`)}
${running ? html`<p class="muted">This page refreshes itself until the backup is over; the server keeps serving meanwhile.</p>` : ''}
<p><a href="/admin#backups">Back to the dashboard</a></p>`,
  })
}
