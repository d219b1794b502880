// `hearth backup s3://bucket/prefix` and `hearth restore s3://bucket/prefix[/<snapshot>]`: the
// same consistent backup as a directory (backup.ts), taken into a temporary folder and then
// uploaded, one object per file, under `<prefix>/<snapshot>/`, the manifest last: a snapshot
// without its manifest is unfinished and is never restored. Restore downloads the newest complete
// snapshot (or the one named) into a temporary folder and puts it in place with restore.ts, so
// every check a directory restore makes is made here too.
//
// Blobs on disk live in the data directory and travel with it; blobs in a bucket are that
// bucket's own concern (its versioning, replication or lifecycle rules) and are not copied.
//
// Snapshot names are UTC times (2026-12-06T02-00-00-000Z), so they sort by age; only names of
// that form are ever counted or deleted, so a prefix shared with anything else (even the blob
// store's blocks/, tmp/, quarantine/) is never touched by retention.
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { S3Client } from '@aws-sdk/client-s3'
import { backupDataDirectory, BackupError, type BackupReport, type CopyProgress, type DataLayout, LAST_BACKUP_NAME, MANIFEST_NAME } from './backup.ts'
import { type RestoreReport, restoreDataDirectory } from './restore.ts'

export interface S3Location {
  bucket: string
  /** Without leading or trailing slash; '' for the bucket's top level. */
  prefix: string
}

export interface S3BackupTarget extends S3Location {
  endpoint?: string
  region?: string
  forcePathStyle: boolean
  credentials?: { accessKeyId: string; secretAccessKey: string }
}

const SNAPSHOT_RE = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/
const DELETE_BATCH = 1000
const PART_SIZE = 8 * 1024 * 1024

/** `s3://bucket/some/prefix` → its parts; null when `dest` is not an s3:// URL. */
export function parseS3Url(dest: string): S3Location | null {
  if (!dest.startsWith('s3://')) return null
  const rest = dest.slice('s3://'.length)
  const slash = rest.indexOf('/')
  const bucket = slash < 0 ? rest : rest.slice(0, slash)
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '')
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new BackupError(`${dest}: not a valid bucket name`)
  if (prefix.split('/').some((s) => s === '.' || s === '..')) throw new BackupError(`${dest}: the prefix may not hold . or .. segments`)
  return { bucket, prefix }
}

/**
 * Where and how to reach the bucket: HEARTH_BACKUP_S3_ENDPOINT, _REGION, _FORCE_PATH_STYLE each
 * fall back to its PDS_BLOBSTORE_S3_* twin (the usual case: backups in the provider that holds
 * the blobs); the credentials fall back as a pair, never one key from each.
 */
export function s3BackupTarget(loc: S3Location, env: NodeJS.ProcessEnv): S3BackupTarget {
  const get = (name: string) => env[`HEARTH_BACKUP_S3_${name}`]?.trim() || env[`PDS_BLOBSTORE_S3_${name}`]?.trim() || undefined
  const own = { id: env.HEARTH_BACKUP_S3_ACCESS_KEY_ID?.trim(), secret: env.HEARTH_BACKUP_S3_SECRET_ACCESS_KEY?.trim() }
  const pds = { id: env.PDS_BLOBSTORE_S3_ACCESS_KEY_ID?.trim(), secret: env.PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY?.trim() }
  const pair = own.id || own.secret ? own : pds
  if (!!pair.id !== !!pair.secret) {
    throw new BackupError(
      pair === own
        ? 'set both HEARTH_BACKUP_S3_ACCESS_KEY_ID and HEARTH_BACKUP_S3_SECRET_ACCESS_KEY, or neither'
        : 'set both PDS_BLOBSTORE_S3_ACCESS_KEY_ID and PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY, or neither',
    )
  }
  const endpoint = get('ENDPOINT')
  if (endpoint) {
    try {
      new URL(endpoint)
    } catch {
      throw new BackupError(`HEARTH_BACKUP_S3_ENDPOINT / PDS_BLOBSTORE_S3_ENDPOINT is not a URL: ${endpoint}`)
    }
  }
  const pathStyle = get('FORCE_PATH_STYLE')
  return {
    ...loc,
    endpoint,
    region: get('REGION'),
    forcePathStyle: pathStyle === 'true' || pathStyle === '1',
    credentials: pair.id && pair.secret ? { accessKeyId: pair.id, secretAccessKey: pair.secret } : undefined,
  }
}

export function snapshotName(date: Date): string {
  return date.toISOString().replace(/[:.]/g, '-')
}

export function s3Url(loc: S3Location, snapshot?: string): string {
  return `s3://${loc.bucket}/${[loc.prefix, snapshot].filter(Boolean).join('/')}`
}

type Sdk = typeof import('@aws-sdk/client-s3')

/** One client for one command; the SDK is loaded only by a backup that goes to a bucket. */
class Bucket {
  private constructor(
    readonly target: S3BackupTarget,
    private readonly sdk: Sdk,
    private readonly Upload: typeof import('@aws-sdk/lib-storage').Upload,
    private readonly client: S3Client,
  ) {}

  static async open(target: S3BackupTarget): Promise<Bucket> {
    const [sdk, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')])
    const client = new sdk.S3Client({
      region: target.region ?? 'us-east-1',
      endpoint: target.endpoint,
      forcePathStyle: target.forcePathStyle,
      credentials: target.credentials,
      // As the blob store: many S3-compatible stores reject the SDK's default checksum trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000 },
    })
    return new Bucket(target, sdk, storage.Upload, client)
  }

  key(...parts: string[]): string {
    return [this.target.prefix, ...parts].filter(Boolean).join('/')
  }

  async upload(key: string, file: string): Promise<void> {
    await this.call(() =>
      new this.Upload({ client: this.client, params: { Bucket: this.target.bucket, Key: key, Body: createReadStream(file) }, partSize: PART_SIZE, queueSize: 2 }).done(),
    )
  }

  async download(key: string, file: string): Promise<void> {
    const res = await this.call(() => this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.target.bucket, Key: key })))
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
    // The data directory's files are its user's alone (keys, secrets, databases).
    await this.call(() => pipeline(res.Body as Readable, createWriteStream(file, { mode: 0o600 })))
  }

  /** Every object under `prefix` (which ends with /). */
  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const out: Array<{ key: string; size: number }> = []
    let token: string | undefined
    do {
      const res = await this.call(() =>
        this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.target.bucket, Prefix: prefix, ContinuationToken: token })),
      )
      for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 })
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
    return out
  }

  /** The snapshots under the prefix, oldest first, and whether each is complete. */
  async snapshots(): Promise<Array<{ name: string; complete: boolean }>> {
    const base = this.target.prefix ? `${this.target.prefix}/` : ''
    const found = new Map<string, boolean>()
    for (const { key } of await this.list(base)) {
      const [name, ...rest] = key.slice(base.length).split('/')
      if (!SNAPSHOT_RE.test(name)) continue
      found.set(name, found.get(name) === true || rest.join('/') === MANIFEST_NAME)
    }
    return [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, complete]) => ({ name, complete }))
  }

  async deleteSnapshot(name: string): Promise<void> {
    if (!SNAPSHOT_RE.test(name)) throw new Error(`not a snapshot name: ${name}`)
    const keys = (await this.list(`${this.key(name)}/`)).map((o) => o.key)
    // The manifest first: a snapshot half deleted is then an unfinished one, never restored.
    keys.sort((a, b) => Number(b.endsWith(`/${MANIFEST_NAME}`)) - Number(a.endsWith(`/${MANIFEST_NAME}`)))
    const manifest = keys[0]?.endsWith(`/${MANIFEST_NAME}`) ? keys.shift() : undefined
    if (manifest) await this.call(() => this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.target.bucket, Key: manifest })))
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH)
      const res = await this.call(() =>
        this.client.send(
          new this.sdk.DeleteObjectsCommand({ Bucket: this.target.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        ),
      )
      if (res.Errors?.length) throw new BackupError(`could not delete ${res.Errors.length} object(s) of snapshot ${name}`)
    }
  }

  close(): void {
    this.client.destroy()
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw new BackupError(describe(err, this.target))
    }
  }
}

/** What went wrong, for a person; the SDK's messages hold no secret. */
function describe(err: unknown, target: S3BackupTarget): string {
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; errors?: Array<{ code?: string }> }
  const where = `${s3Url(target)} at ${target.endpoint ?? 'AWS S3'}`
  const code = e.code ?? e.errors?.[0]?.code
  if (code && /^E[A-Z]+$/.test(code)) return `cannot reach the object store for ${where} (${code})`
  if (e.name === 'NoSuchBucket') return `the bucket ${JSON.stringify(target.bucket)} does not exist (${where})`
  const status = e.$metadata?.httpStatusCode
  if (status === 401 || status === 403 || e.name === 'InvalidAccessKeyId' || e.name === 'SignatureDoesNotMatch' || e.name === 'AccessDenied') {
    return `the object store refused these credentials for ${where} (check HEARTH_BACKUP_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY)`
  }
  return `the object store failed for ${where}: ${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}${e.message ? `: ${e.message}` : ''}`
}

export interface S3BackupOptions {
  hearthVersion?: string
  now?: () => Date
  /** Complete snapshots to keep after this one is written (older ones are deleted); all when unset. */
  keep?: number
  /** The local snapshot being taken ('snapshot'), then its upload ('upload'). */
  onProgress?: (phase: 'snapshot' | 'upload', p: CopyProgress) => void
  /** Where the temporary copy goes (default: the system's temp folder). */
  tmpDir?: string
}

export interface S3BackupReport extends BackupReport {
  snapshot: string
  url: string
  deleted: string[]
}

export async function backupToS3(layout: DataLayout, target: S3BackupTarget, opts: S3BackupOptions = {}): Promise<S3BackupReport> {
  const bucket = await Bucket.open(target)
  const work = mkdtempSync(path.join(opts.tmpDir ?? tmpdir(), 'hearth-backup-'))
  try {
    // Reached and writable before the (possibly long) local snapshot is taken.
    await bucket.snapshots()
    const now = opts.now?.() ?? new Date()
    const snapshot = snapshotName(now)
    const local = path.join(work, snapshot)
    const report = backupDataDirectory(layout, local, { hearthVersion: opts.hearthVersion, now: () => now, onProgress: (p) => opts.onProgress?.('snapshot', p) })
    const files = listFiles(local).filter((f) => f !== MANIFEST_NAME)
    const sizes = files.map((f) => statSync(path.join(local, f)).size)
    const totalBytes = sizes.reduce((a, b) => a + b, 0)
    let bytes = 0
    for (const [i, rel] of files.entries()) {
      await bucket.upload(bucket.key(snapshot, ...rel.split(path.sep)), path.join(local, rel))
      bytes += sizes[i]
      opts.onProgress?.('upload', { items: i + 1, bytes, totalBytes })
    }
    await bucket.upload(bucket.key(snapshot, MANIFEST_NAME), path.join(local, MANIFEST_NAME))
    const url = s3Url(target, snapshot)
    writeFileSync(path.join(layout.dataDirectory, LAST_BACKUP_NAME), `${JSON.stringify({ createdAt: report.createdAt, dest: url })}\n`, { mode: 0o600 })

    const deleted: string[] = []
    if (opts.keep !== undefined) {
      const all = await bucket.snapshots()
      const complete = all.filter((s) => s.complete).map((s) => s.name)
      const oldestKept = complete.at(-opts.keep) ?? complete[0]
      const drop = new Set(complete.slice(0, Math.max(0, complete.length - opts.keep)))
      // Unfinished snapshots older than every kept one are leftovers of a run that failed.
      for (const s of all) if (!s.complete && oldestKept !== undefined && s.name < oldestKept) drop.add(s.name)
      for (const name of [...drop].sort()) {
        await bucket.deleteSnapshot(name)
        deleted.push(name)
      }
    }
    return { ...report, dest: url, snapshot, url, deleted }
  } finally {
    bucket.close()
    rmSync(work, { recursive: true, force: true })
  }
}

export interface S3RestoreOptions {
  force?: boolean
  onProgress?: (phase: 'download' | 'restore', p: CopyProgress) => void
  tmpDir?: string
}

/**
 * Restores the snapshot the location names: its prefix's newest complete snapshot, or, when the
 * prefix's last segment is a snapshot name, that one.
 */
export async function restoreFromS3(target: S3BackupTarget, layout: DataLayout, opts: S3RestoreOptions = {}): Promise<RestoreReport & { url: string }> {
  const segments = target.prefix.split('/')
  const named = SNAPSHOT_RE.test(segments.at(-1) ?? '')
  const base: S3BackupTarget = named ? { ...target, prefix: segments.slice(0, -1).join('/') } : target
  const bucket = await Bucket.open(base)
  const work = mkdtempSync(path.join(opts.tmpDir ?? tmpdir(), 'hearth-restore-'))
  try {
    const all = await bucket.snapshots()
    const snapshot = named ? segments.at(-1)! : all.filter((s) => s.complete).at(-1)?.name
    if (!snapshot) throw new BackupError(`no complete Hearth backup under ${s3Url(base)}`)
    const chosen = all.find((s) => s.name === snapshot)
    if (!chosen?.complete) throw new BackupError(`${s3Url(base, snapshot)} is not a complete Hearth backup (no ${MANIFEST_NAME})`)
    const prefix = `${bucket.key(snapshot)}/`
    const objects = await bucket.list(prefix)
    const totalBytes = objects.reduce((a, o) => a + o.size, 0)
    const local = path.join(work, snapshot)
    let bytes = 0
    for (const [i, o] of objects.entries()) {
      const rel = o.key.slice(prefix.length)
      if (rel.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new BackupError(`unexpected object ${o.key} in the snapshot`)
      await bucket.download(o.key, path.join(local, ...rel.split('/')))
      bytes += o.size
      opts.onProgress?.('download', { items: i + 1, bytes, totalBytes })
    }
    const report = restoreDataDirectory(local, layout, { force: opts.force, onProgress: (p) => opts.onProgress?.('restore', p) })
    return { ...report, url: s3Url(base, snapshot) }
  } finally {
    bucket.close()
    rmSync(work, { recursive: true, force: true })
  }
}

function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? path.join(rel, e.name) : e.name
    if (e.isDirectory()) out.push(...listFiles(dir, r))
    else if (e.isFile()) out.push(r)
  }
  return out
}
