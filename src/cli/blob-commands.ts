// `hearth blobs to-s3` and `hearth blobs to-disk`: copy the blob store between local disk and an
// S3-compatible bucket (src/blob/copy.ts), so a host can move onto object storage or off it.
import { parseArgs } from 'node:util'
import type { BlobStore } from '../blob/store.ts'
import { type CliContext, CliError, loadCliConfig, usageError } from './context.ts'
import { duration } from './progress.ts'

export const BLOBS_USAGE = `Usage: hearth blobs to-s3 | to-disk

Copies every blob (permanent and taken down) between the disk blob store and an S3-compatible
bucket, while the server runs:

  to-s3    from PDS_BLOBSTORE_DISK_LOCATION (default <data>/blocks) into the bucket named by
           PDS_BLOBSTORE_S3_BUCKET (with _REGION, _ENDPOINT, _FORCE_PATH_STYLE,
           _ACCESS_KEY_ID, _SECRET_ACCESS_KEY)
  to-disk  the other way

Both settings are read from the environment and ./.env, whichever the server uses now. Each
blob is checked against its CID before it is written; a blob already in the target is skipped,
so running the command again copies only what is new. To switch: copy, stop the server, copy
again (the few blobs uploaded meanwhile), change the environment, start the server.
`

const MB = 1024 * 1024

export async function blobsCommand(args: string[], ctx: CliContext): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    throw usageError((err as Error).message, BLOBS_USAGE)
  }
  if (parsed.values.help) {
    ctx.io.out(BLOBS_USAGE)
    return 0
  }
  const [direction, extra] = parsed.positionals
  if ((direction !== 'to-s3' && direction !== 'to-disk') || extra !== undefined) {
    throw usageError('blobs needs to-s3 or to-disk', BLOBS_USAGE)
  }
  const { environmentWithDotenv } = await import('../config/index.ts')
  const env = environmentWithDotenv(ctx.env, ctx.cwd)
  if (!env.PDS_BLOBSTORE_S3_BUCKET?.trim()) {
    throw new CliError('PDS_BLOBSTORE_S3_BUCKET is not set: name the bucket (and the other PDS_BLOBSTORE_S3_* settings) to copy with')
  }
  // The same variables read twice: once as a disk store (the bucket left out), once as a bucket
  // (the disk location left out), whichever of the two the server runs on now. An empty value
  // is unset, and keeps ./.env from filling it in.
  const diskConfig = await loadCliConfig({ ...ctx, env: { ...env, PDS_BLOBSTORE_S3_BUCKET: '' } }, { secrets: 'none' })
  const s3Config = await loadCliConfig({ ...ctx, env: { ...env, PDS_BLOBSTORE_DISK_LOCATION: '' } }, { secrets: 'none' })
  const { createBlobStore, checkBlobStore } = await import('../blob/create.ts')
  const { copyBlobStore } = await import('../blob/copy.ts')
  const disk = await createBlobStore(diskConfig.blobstore)
  const s3 = await createBlobStore(s3Config.blobstore)
  try {
    const [source, target] = direction === 'to-s3' ? [disk, s3] : [s3, disk]
    try {
      await checkBlobStore(target)
      if (source.kind === 's3') await checkBlobStore(source)
    } catch (err) {
      throw new CliError((err as Error).message)
    }
    const where = (store: BlobStore) =>
      store.kind === 's3' && s3Config.blobstore.provider === 's3'
        ? `bucket ${s3Config.blobstore.bucket}`
        : diskConfig.blobstore.provider === 'disk'
          ? diskConfig.blobstore.location
          : 'disk'
    ctx.io.out(`Copying blobs from ${where(source)} to ${where(target)}\n`)
    const started = Date.now()
    let lastPrinted = started
    const line = (p: { objects: number; totalObjects: number; bytes: number; totalBytes: number }) => {
      const elapsed = Math.max(1, Date.now() - started)
      const rate = p.bytes / MB / (elapsed / 1000)
      const share = p.totalBytes > 0 ? p.bytes / p.totalBytes : 1
      const left = share > 0 && share < 1 ? duration((elapsed / share) * (1 - share)) : '0:00'
      return (
        `blobs: ${p.objects}/${p.totalObjects} objects, ${(p.bytes / MB).toFixed(1)}/${(p.totalBytes / MB).toFixed(1)} MB, ` +
        `${rate.toFixed(1)} MB/s, ETA ${left}\n`
      )
    }
    const result = await copyBlobStore(source, target, {
      onProgress: (p) => {
        const t = Date.now()
        if (t - lastPrinted < 1000) return
        lastPrinted = t
        ctx.io.err(line(p))
      },
    })
    ctx.io.err(line(result))
    ctx.io.out(
      `Copied ${result.objects - result.skipped - result.failed.length} blob(s), ${result.skipped} already there, ` +
        `${result.failed.length} failed, in ${duration(Date.now() - started)}\n`,
    )
    for (const f of result.failed) ctx.io.err(`failed: ${f.did}/${f.name}: ${f.error}\n`)
    return result.failed.length > 0 ? 1 : 0
  } finally {
    disk.close()
    s3.close()
  }
}
