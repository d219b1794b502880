// The thread a backup started from the dashboard runs in (backup-runner.ts starts it): the
// directory copy is synchronous file and SQLite work, so it must not run on the server's event
// loop. It takes the same backup `hearth backup` takes, to `<dir>/<UTC time>/` or an s3://
// prefix, posts its progress, and ends with one 'done' or 'failed' message.
import path from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { backupDataDirectory, type CopyProgress, type DataLayout } from './backup.ts'
import { backupToS3, parseS3Url, s3BackupTarget, snapshotName } from './s3-backup.ts'

export interface BackupWorkerJob {
  layout: DataLayout
  /** A directory (each backup in a new `<UTC time>` folder inside it) or s3://bucket/prefix. */
  destination: string
  /** The HEARTH_BACKUP_S3_* and PDS_BLOBSTORE_S3_* settings, for a bucket. */
  env: Record<string, string | undefined>
  keep?: number
  hearthVersion: string
}

export type BackupWorkerMessage =
  | { type: 'progress'; phase: 'snapshot' | 'upload'; progress: CopyProgress }
  | { type: 'done'; dest: string; bytes: number; accounts: number; warnings: string[] }
  | { type: 'failed'; error: string }

async function run(job: BackupWorkerJob): Promise<BackupWorkerMessage> {
  const post = (m: BackupWorkerMessage) => parentPort?.postMessage(m)
  const s3 = parseS3Url(job.destination)
  if (s3) {
    const report = await backupToS3(job.layout, s3BackupTarget(s3, job.env), {
      hearthVersion: job.hearthVersion,
      keep: job.keep,
      onProgress: (phase, progress) => post({ type: 'progress', phase, progress }),
    })
    return { type: 'done', dest: report.url, bytes: report.bytes, accounts: report.accounts, warnings: report.warnings }
  }
  const dest = path.join(job.destination, snapshotName(new Date()))
  const report = backupDataDirectory(job.layout, dest, {
    hearthVersion: job.hearthVersion,
    onProgress: (progress) => post({ type: 'progress', phase: 'snapshot', progress }),
  })
  return { type: 'done', dest: report.dest, bytes: report.bytes, accounts: report.accounts, warnings: report.warnings }
}

if (parentPort && workerData?.hearthBackupJob) {
  const job = workerData.hearthBackupJob as BackupWorkerJob
  try {
    parentPort.postMessage(await run(job))
  } catch (err) {
    parentPort.postMessage({ type: 'failed', error: err instanceof Error ? err.message : String(err) } satisfies BackupWorkerMessage)
  }
}
