// A backup started from the operator dashboard: one at a time, in a worker thread
// (backup-worker.ts) so the server keeps answering, its progress kept here for the page to show,
// its start and outcome noted in the data directory's status file (backup-status.ts) as the
// `hearth backup` command's are. A run of the command in progress (its mark in the status file,
// from a live process of this machine) also keeps a second one from starting.
import { Worker } from 'node:worker_threads'
import type { CopyProgress, DataLayout } from './backup.ts'
import { type BackupRun, noteBackupFinished, noteBackupStarted, readBackupStatus } from './backup-status.ts'
import type { BackupWorkerJob, BackupWorkerMessage } from './backup-worker.ts'

export interface BackupRunnerOptions {
  layout: DataLayout
  /** HEARTH_BACKUP_DESTINATION, or null when none is configured (then nothing can be started). */
  destination: string | null
  keep?: number
  env: Record<string, string | undefined>
  hearthVersion: string
  /** Told of each finished run (for the log). */
  onFinished?: (run: BackupRun) => void
}

export interface RunningBackup {
  startedAt: string
  destination: string
  phase: 'starting' | 'snapshot' | 'upload'
  progress: CopyProgress | null
}

export type StartResult = { ok: true } | { ok: false; reason: string }

export class BackupRunner {
  #current: RunningBackup | null = null
  #worker: Worker | null = null
  #done: Promise<void> = Promise.resolve()

  constructor(readonly opts: BackupRunnerOptions) {}

  get running(): RunningBackup | null {
    return this.#current
  }

  /** Settles when the run in progress (if any) has finished and been noted. */
  whenIdle(): Promise<void> {
    return this.#done
  }

  start(): StartResult {
    const destination = this.opts.destination
    if (!destination) return { ok: false, reason: 'No backup destination is set: set HEARTH_BACKUP_DESTINATION (a directory or s3://bucket/prefix) and restart.' }
    if (this.#current) return { ok: false, reason: `A backup is already running (started ${this.#current.startedAt.slice(11, 19)} UTC). Wait for it to finish.` }
    const other = readBackupStatus(this.opts.layout.dataDirectory).running
    if (other && other.pid !== process.pid && processAlive(other.pid)) {
      return { ok: false, reason: `hearth backup is already running on this machine (process ${other.pid}, started ${other.startedAt.slice(0, 19).replace('T', ' ')} UTC). Wait for it to finish.` }
    }
    const startedAt = new Date().toISOString()
    const current: RunningBackup = { startedAt, destination, phase: 'starting', progress: null }
    this.#current = current
    noteBackupStarted(this.opts.layout.dataDirectory, { startedAt, dest: destination, by: 'dashboard' })
    const job: BackupWorkerJob = { layout: this.opts.layout, destination, env: this.opts.env, keep: this.opts.keep, hearthVersion: this.opts.hearthVersion }
    const worker = startWorker(job)
    this.#worker = worker
    this.#done = new Promise<void>((resolve) => {
      let outcome: BackupWorkerMessage | null = null
      worker.on('message', (m: BackupWorkerMessage) => {
        if (m.type === 'progress') {
          current.phase = m.phase
          current.progress = m.progress
        } else outcome = m
      })
      const finish = (error?: string) => {
        if (this.#current !== current) return
        const o = outcome as BackupWorkerMessage | null
        const run: BackupRun =
          o?.type === 'done'
            ? { startedAt, finishedAt: new Date().toISOString(), dest: o.dest, ok: true, bytes: o.bytes, accounts: o.accounts, by: 'dashboard' }
            : { startedAt, finishedAt: new Date().toISOString(), dest: destination, ok: false, error: o?.type === 'failed' ? o.error : (error ?? 'the backup thread stopped'), by: 'dashboard' }
        noteBackupFinished(this.opts.layout.dataDirectory, run)
        this.#current = null
        this.#worker = null
        this.opts.onFinished?.(run)
        resolve()
      }
      worker.on('error', (err) => finish(err.message))
      worker.on('exit', () => finish())
    })
    return { ok: true }
  }

  /** Stops a run in progress (at shutdown): it is noted as failed; its unfinished copy has no manifest. */
  async close(): Promise<void> {
    await this.#worker?.terminate()
    await this.#done
  }
}

/** Whether a process of this machine with this id runs (the status file's marks may outlive theirs). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The worker from this module's folder. From the sources (tests, bin/hearth.js) it is the .ts
 * file, loaded through tsx, which the thread registers for itself (a thread does not inherit a
 * loader registered with tsx's API); from the bundle (`npm start`) it is dist/backup-worker.mjs,
 * built beside dist/hearth.mjs.
 */
function startWorker(job: BackupWorkerJob): Worker {
  const fromSources = import.meta.url.endsWith('.ts')
  const url = new URL(fromSources ? './backup-worker.ts' : './backup-worker.mjs', import.meta.url).href
  // Evaluated as a CommonJS script: dynamic imports of absolute URLs work there on every Node.
  const code = fromSources
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}) })`
    : `import(${JSON.stringify(url)})`
  return new Worker(code, { eval: true, workerData: { hearthBackupJob: job } })
}
