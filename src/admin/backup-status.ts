// What the operator dashboard knows about backups taken by any process: a small JSON file in the
// data directory, hearth-backup-status.json, written by `hearth backup` (once or on its
// --every schedule, a process of its own) and by a backup started from the dashboard. It holds
// the last run's outcome (success or failure), the run in progress, and the schedule's next
// time. Written whole to a temp file and renamed, so a reader never sees half of it.
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export const BACKUP_STATUS_NAME = 'hearth-backup-status.json'

export type BackupOrigin = 'command' | 'schedule' | 'dashboard'

export interface BackupRun {
  startedAt: string
  finishedAt: string
  /** The backup's directory or s3:// URL (on failure, where it was going). */
  dest: string
  ok: boolean
  /** Bytes copied, and accounts in it (a success). */
  bytes?: number
  accounts?: number
  /** What went wrong (a failure); never a secret (the errors name variables, not values). */
  error?: string
  by: BackupOrigin
}

export interface BackupStatus {
  lastRun?: BackupRun
  running?: { startedAt: string; dest: string; by: BackupOrigin; pid: number }
  /** Written by `hearth backup --every` after each run, removed when it stops. */
  schedule?: { everyMs: number; nextAt: string; dest: string; pid: number; updatedAt: string }
}

export function readBackupStatus(dataDirectory: string): BackupStatus {
  try {
    const parsed = JSON.parse(readFileSync(path.join(dataDirectory, BACKUP_STATUS_NAME), 'utf8')) as unknown
    return parsed && typeof parsed === 'object' ? (parsed as BackupStatus) : {}
  } catch {
    return {}
  }
}

/**
 * Applies `change` to the status file. Best effort: a backup is not failed because its note
 * could not be written (the data directory full or read-only); the caller gets false.
 */
export function updateBackupStatus(dataDirectory: string, change: (s: BackupStatus) => BackupStatus): boolean {
  const file = path.join(dataDirectory, BACKUP_STATUS_NAME)
  const tmp = `${file}.${process.pid}.tmp`
  try {
    writeFileSync(tmp, `${JSON.stringify(change(readBackupStatus(dataDirectory)), null, 2)}\n`, { mode: 0o600 })
    renameSync(tmp, file)
    return true
  } catch {
    return false
  }
}

/** Marks a run as started. */
export function noteBackupStarted(dataDirectory: string, run: { startedAt: string; dest: string; by: BackupOrigin }): void {
  updateBackupStatus(dataDirectory, (s) => ({ ...s, running: { ...run, pid: process.pid } }))
}

/** Records a finished run as the last one and clears the running mark. */
export function noteBackupFinished(dataDirectory: string, run: BackupRun): void {
  updateBackupStatus(dataDirectory, ({ running: _, ...s }) => ({ ...s, lastRun: run }))
}
