// Blobs in an S3-compatible bucket (AWS, R2, B2, MinIO, Ceph…), in the official PDS's key
// layout (@atproto/aws S3BlobStore), so either server runs on the other's bucket:
//   temporary   tmp/<did>/<key>
//   permanent   blocks/<did>/<cid>
//   quarantine  quarantine/<did>/<cid>
//
// What the official learned the hard way, built in:
// - One client, one socket pool, for the whole process (the official made a client per actor
//   until 0.5.37 and ran out of sockets): keep-alive agents with a bounded pool.
// - Every request is bounded: a connection must open within 5 s, a request's answer must start
//   within PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS and its socket may not sit idle longer than
//   that (a stalled request is retried); a whole upload within _UPLOAD_TIMEOUT_MS, else 504.
// - A move is a copy then a delete, and a concurrent mover having got there first (NoSuchKey)
//   is not an error.
// - Nothing half-written: an upload goes to tmp/ (a multipart upload that fails is aborted by
//   the uploader), and a temporary object no record came to reference is swept (blob-gc.ts).
//
// getBlob's GET and the PUT of an upload that fits one part are made by s3-http.ts, not the SDK,
// whose per-request machinery cost more CPU than the megabyte they move (see there); the rest
// goes through the SDK.
//
// Unlike the official, failures are named: an unreachable endpoint, refused credentials or a
// missing bucket become BlobStoreUnavailableError (a 503 for the client, the reason in the log).
import { createHash } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { PassThrough, type Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { type Cid, bytesMatchCid, cidForRawDigest } from '../repo/cid.ts'
import { isValidDid } from '../repo/syntax.ts'
import type { S3BlobstoreConfig } from '../config/types.ts'
import type { Logger } from '../logger.ts'
import { getObject, type ObjectBase, putObject, type RequestOptions, type S3Identity } from './s3-http.ts'
import { MimeSniffer } from './sniff.ts'
import {
  AccountQueues,
  BlobNotFoundError,
  type BlobBody,
  type BlobStore,
  BlobStoreUnavailableError,
  BlobTooLargeError,
  BlobUploadTimeoutError,
  type FileEntry,
  type PutTempOptions,
  type TempBlob,
  checkDid,
  checkFileName,
  checkKey,
  cidName,
  genKey,
  noop,
  readChunks,
} from './store.ts'

/** Sockets the process keeps to the object store at most (per endpoint). */
export const S3_MAX_SOCKETS = 64
const CONNECTION_TIMEOUT_MS = 5_000
const DELETE_BATCH = 1000
// An upload's body is buffered by the uploader in parts of this size (S3's minimum part size):
// a blob up to it is one PutObject, a larger one a multipart upload.
const PART_SIZE = 5 * 1024 * 1024

// Thrown inside a read to end it early (a multipart upload that failed), never seen outside.
const STOP_READING = Symbol('stop reading')

export interface S3BlobStoreOptions extends S3BlobstoreConfig {
  logger?: Logger
}

type Sdk = typeof import('@aws-sdk/client-s3')
type Uploader = typeof import('@aws-sdk/lib-storage').Upload

// The SDK is loaded by a server that uses a bucket, not by every server: it costs about 25 MB
// of resident memory and a fifth of a second at start.
let sdkLoading: Promise<{ sdk: Sdk; Upload: Uploader }> | null = null
function loadSdk(): Promise<{ sdk: Sdk; Upload: Uploader }> {
  sdkLoading ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([sdk, storage]) => ({
    sdk,
    Upload: storage.Upload,
  }))
  return sdkLoading
}

export class S3BlobStore implements BlobStore {
  readonly kind = 's3'
  readonly bucket: string
  private readonly sdk: Sdk
  private readonly Upload: Uploader
  private readonly client: S3Client
  private readonly uploadTimeoutMs: number
  private readonly queues = new AccountQueues()
  private readonly logger: Logger | undefined
  private readonly endpointName: string
  private readonly httpAgent: http.Agent
  private readonly httpsAgent: https.Agent
  private readonly requestTimeoutMs: number
  private objectBase: Promise<ObjectBase> | null = null

  static async create(opts: S3BlobStoreOptions): Promise<S3BlobStore> {
    const { sdk, Upload } = await loadSdk()
    return new S3BlobStore(opts, sdk, Upload)
  }

  private constructor(opts: S3BlobStoreOptions, sdk: Sdk, upload: Uploader) {
    this.sdk = sdk
    this.Upload = upload
    this.bucket = opts.bucket
    this.uploadTimeoutMs = opts.uploadTimeoutMs
    this.logger = opts.logger
    this.endpointName = opts.endpoint ?? `AWS S3${opts.region ? ` (${opts.region})` : ''}`
    this.requestTimeoutMs = opts.requestTimeoutMs
    const agentOptions = { keepAlive: true, maxSockets: S3_MAX_SOCKETS, maxFreeSockets: 16 }
    this.httpAgent = new http.Agent(agentOptions)
    this.httpsAgent = new https.Agent(agentOptions)
    this.client = new sdk.S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials,
      // Checksums only where the API demands them: many S3-compatible stores (older MinIO, B2,
      // R2 at times, s3rver) reject or mangle the SDK's default aws-chunked checksum trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: CONNECTION_TIMEOUT_MS,
        // Until the answer starts (a stalled server), and then between bytes (a stalled body).
        requestTimeout: opts.requestTimeoutMs,
        throwOnRequestTimeout: true,
        socketTimeout: opts.requestTimeoutMs,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
      },
    })
  }

  serialize<T>(did: string, fn: () => Promise<T>): Promise<T> {
    return this.queues.run(did, fn)
  }

  /**
   * The bucket exists and these credentials may write to it: a probe object is written and
   * removed under tmp/ (where the official's layout keeps nothing but per-DID folders).
   */
  async check(): Promise<void> {
    try {
      await this.run(() => this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket })), 'check')
    } catch (err) {
      // A HEAD has no body to say what is missing: here it can only be the bucket.
      if (err instanceof BlobNotFoundError) {
        throw new BlobStoreUnavailableError(describeS3Error({ name: 'NoSuchBucket' }, this.bucket, this.endpointName), { cause: err })
      }
      throw err
    }
    const probe = `tmp/.hearth-access-check-${genKey()}`
    await this.run(() => this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: probe, Body: 'ok' })), 'check')
    await this.run(() => this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: probe })), 'check')
  }

  close(): void {
    this.client.destroy()
    this.httpAgent.destroy()
    this.httpsAgent.destroy()
  }

  async putTemp(did: string, source: AsyncIterable<Uint8Array> | Readable, opts: PutTempOptions = {}): Promise<TempBlob> {
    const maxSize = opts.maxSize ?? Number.POSITIVE_INFINITY
    const key = genKey()
    const objectKey = tempKey(did, key)
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), this.uploadTimeoutMs)
    const hash = createHash('sha256')
    const sniffer = new MimeSniffer()
    let size = 0
    // A blob that fits one part is buffered here and sent as one PutObject whose payload hash
    // is the CID's digest (computed anyway); a larger one is streamed as a multipart upload.
    let parts = [] as Uint8Array[] | null
    let multipart = null as Multipart | null
    let digest: Uint8Array
    try {
      // A failed multipart upload stops the read; its end() below throws what failed.
      await readChunks(source, (chunk) => {
        if (multipart?.failed()) throw STOP_READING
        size += chunk.byteLength
        if (size > maxSize) throw new BlobTooLargeError(maxSize)
        hash.update(chunk)
        const sniffing = sniffer.push(chunk)
        let sending: Promise<void> | undefined
        if (parts !== null) {
          parts.push(chunk)
          if (size > PART_SIZE) {
            const upload = this.startMultipart(objectKey, abort)
            const first = parts
            multipart = upload
            parts = null
            sending = (async () => {
              for (const part of first) await upload.write(part)
            })()
          }
        } else if (multipart) sending = multipart.write(chunk)
        if (!sending) return sniffing
        return sniffing ? Promise.all([sniffing, sending]).then(noop) : sending
      }).catch((err: unknown) => {
        if (err !== STOP_READING) throw err
      })
      digest = hash.digest()
      if (parts !== null) await this.putOne(objectKey, parts, size, digest, abort.signal)
      else await multipart?.end()
    } catch (err) {
      sniffer.abort()
      abort.abort()
      // A single PutObject is sent only once the body is whole; a multipart upload that fails is
      // aborted by the uploader; one that completed just as the client's body failed is removed.
      if (multipart && !(await multipart.cancel())) await this.deleteKey(objectKey).catch(noop)
      throw err
    } finally {
      clearTimeout(timer)
    }
    const sniffedMime = await sniffer.finish()
    return { key, cid: cidForRawDigest(digest), size, sniffedMime }
  }

  /**
   * One PutObject of a whole blob, resolved once the store holds it. SigV4 signs a hash of the
   * payload and the store checks the bytes against it: that hash is the blob's sha256, which the
   * caller has (the CID's digest), so the bytes are not hashed a second time, nor copied into
   * one buffer (the chunks go out as they came, and again on a retry).
   */
  private async putOne(objectKey: string, chunks: Uint8Array[], size: number, sha256: Uint8Array, signal: AbortSignal): Promise<void> {
    const sha256Hex = Buffer.from(sha256).toString('hex')
    try {
      const base = await this.resolveObjectBase().catch(() => null)
      if (base) {
        await putObject(await this.requestOptions(base, objectKey, signal), { chunks, size, sha256Hex })
        return
      }
      // Without a base the SDK sends it, and names what is missing.
      const command = new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: Buffer.concat(chunks, size), ContentLength: size })
      command.middlewareStack.add(
        (next) => (args) => {
          const request = args.request as { headers?: Record<string, string> }
          if (request.headers) request.headers['x-amz-content-sha256'] = sha256Hex
          return next(args)
        },
        { step: 'build', name: 'hearthPayloadHash' },
      )
      await this.client.send(command, { abortSignal: signal })
    } catch (err) {
      throw this.uploadError(err, signal.aborted, objectKey)
    }
  }

  /** A multipart upload fed chunk by chunk (the uploader buffers each part, S3's minimum). */
  private startMultipart(objectKey: string, abort: AbortController): Multipart {
    const body = new PassThrough({ highWaterMark: 256 * 1024 })
    const upload = new this.Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: body },
      abortController: abort,
      queueSize: 1,
      partSize: PART_SIZE,
    })
    let failure: unknown = null
    const uploaded = upload.done().then(noop, (err: unknown) => {
      failure = err
      body.destroy()
    })
    return {
      failed: () => failure !== null,
      write: async (chunk) => {
        if (!body.write(chunk)) await Promise.race([waitDrain(body), uploaded])
      },
      end: async () => {
        if (failure === null) body.end()
        await uploaded
        if (failure !== null) throw this.uploadError(failure, abort.signal.aborted, objectKey)
      },
      cancel: async () => {
        body.destroy()
        await uploaded
        return failure !== null
      },
    }
  }

  async makePermanent(did: string, key: string, cid: Cid | string): Promise<void> {
    try {
      await this.move(tempKey(did, key), storedKey(did, cid))
    } catch (err) {
      // The temp object is gone: another caller may have made it permanent first.
      if (err instanceof BlobNotFoundError && (await this.hasStored(did, cid))) return
      throw err
    }
  }

  async putPermanent(did: string, cid: Cid, bytes: Uint8Array): Promise<void> {
    if (!bytesMatchCid(cid, bytes)) throw new Error(`bytes do not hash to ${cid.$link}`)
    await this.run(() => this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: storedKey(did, cid), Body: bytes })), 'put')
  }

  hasStored(did: string, cid: Cid | string): Promise<boolean> {
    return this.hasKey(storedKey(did, cid))
  }

  hasTemp(did: string, key: string): Promise<boolean> {
    return this.hasKey(tempKey(did, key))
  }

  async getForSend(did: string, cid: Cid | string): Promise<BlobBody> {
    return { stream: await this.getStream(did, cid) }
  }

  async getStream(did: string, cid: Cid | string): Promise<Readable> {
    const key = storedKey(did, cid)
    const base = await this.resolveObjectBase().catch(() => null)
    // Without a base (the SDK could not resolve one: no region, no credentials yet), the SDK
    // sends the request, and names what is missing.
    const stream = base
      ? await this.run(() => this.read(base, key), 'get')
      : ((await this.run(() => this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key })), 'get')).Body as Readable | undefined)
    if (!stream) throw new BlobNotFoundError()
    // Until someone reads it, an error is kept on the stream (and thrown by that read).
    stream.on('error', noop)
    return stream
  }

  private async read(base: ObjectBase, key: string): Promise<Readable> {
    return getObject(await this.requestOptions(base, key))
  }

  private async requestOptions(base: ObjectBase, key: string, signal?: AbortSignal): Promise<RequestOptions> {
    const config = this.client.config as unknown as { credentials: () => Promise<S3Identity>; region: () => Promise<string>; systemClockOffset?: number }
    return {
      base,
      key,
      region: await config.region(),
      identity: await config.credentials(),
      clockOffsetMs: config.systemClockOffset ?? 0,
      // Shared with the SDK's requests, as its own correction is.
      onClockSkew: (offsetMs) => {
        config.systemClockOffset = offsetMs
      },
      agent: base.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
      connectTimeoutMs: CONNECTION_TIMEOUT_MS,
      idleTimeoutMs: this.requestTimeoutMs,
      signal,
    }
  }

  /**
   * Where the bucket's objects are, as the SDK resolves it (endpoint, path or host style, the
   * bucket's name rules): a GetObject is built up to its signing and stopped there, and its URL
   * without the key kept. Once per process; again after a failure.
   */
  private resolveObjectBase(): Promise<ObjectBase> {
    this.objectBase ??= this.buildObjectBase().catch((err: unknown) => {
      this.objectBase = null
      throw err
    })
    return this.objectBase
  }

  private async buildObjectBase(): Promise<ObjectBase> {
    const probe = 'hearth-object-base-probe'
    const stop = new Error('built')
    let built: { protocol?: string; hostname?: string; port?: number; path?: string } | null = null
    const command = new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: probe })
    command.middlewareStack.add(
      () => (args) => {
        built = args.request as typeof built
        throw stop
      },
      { step: 'build', priority: 'low', name: 'hearthObjectBase' },
    )
    try {
      await this.client.send(command)
    } catch (err) {
      if (err !== stop) throw err
    }
    const req = built as { protocol?: string; hostname?: string; port?: number; path?: string } | null
    const protocol = req?.protocol === 'https:' || req?.protocol === 'https' ? 'https:' : req?.protocol === 'http:' || req?.protocol === 'http' ? 'http:' : null
    if (!req?.hostname || !protocol || !req.path?.endsWith(`/${probe}`)) throw new Error('the SDK built no object URL')
    return { protocol, hostname: req.hostname, port: req.port, pathPrefix: req.path.slice(0, -probe.length) }
  }

  async getBytes(did: string, cid: Cid | string): Promise<Uint8Array> {
    const res = await this.run(() => this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: storedKey(did, cid) })), 'get')
    if (!res.Body) throw new BlobNotFoundError()
    try {
      return await res.Body.transformToByteArray()
    } catch (err) {
      throw this.unavailable(err, 'get')
    }
  }

  async storedSize(did: string, cid: Cid | string): Promise<number | undefined> {
    try {
      const res = await this.run(() => this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: storedKey(did, cid) })), 'head')
      return res.ContentLength
    } catch (err) {
      if (err instanceof BlobNotFoundError) return undefined
      throw err
    }
  }

  delete(did: string, cid: Cid | string): Promise<void> {
    return this.deleteKey(storedKey(did, cid))
  }

  deleteTemp(did: string, key: string): Promise<void> {
    return this.deleteKey(tempKey(did, key))
  }

  deleteMany(did: string, cids: Iterable<Cid | string>): Promise<void> {
    return this.deleteKeys(Array.from(cids, (cid) => storedKey(did, cid)))
  }

  quarantine(did: string, cid: Cid | string): Promise<void> {
    return this.move(storedKey(did, cid), quarantineKey(did, cid))
  }

  unquarantine(did: string, cid: Cid | string): Promise<void> {
    return this.move(quarantineKey(did, cid), storedKey(did, cid))
  }

  isQuarantined(did: string, cid: Cid | string): Promise<boolean> {
    return this.hasKey(quarantineKey(did, cid))
  }

  async deleteAll(did: string): Promise<void> {
    checkDid(did)
    for (const prefix of [`blocks/${did}/`, `tmp/${did}/`, `quarantine/${did}/`]) {
      const entries = await this.list(prefix)
      await this.deleteKeys(entries.map((e) => prefix + e.name))
    }
  }

  listTemp(did: string): Promise<FileEntry[]> {
    return this.list(`tmp/${checkDid(did)}/`)
  }

  listStored(did: string): Promise<FileEntry[]> {
    return this.list(`blocks/${checkDid(did)}/`)
  }

  async listAccounts(): Promise<string[]> {
    const dids = new Set<string>()
    for (const prefix of ['blocks/', 'quarantine/']) {
      let token: string | undefined
      do {
        const res = await this.run(
          () => this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token })),
          'list',
        )
        for (const p of res.CommonPrefixes ?? []) {
          const did = p.Prefix?.slice(prefix.length, -1)
          if (did && isValidDid(did)) dids.add(did)
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined
      } while (token)
    }
    return [...dids].sort()
  }

  listQuarantined(did: string): Promise<FileEntry[]> {
    return this.list(`quarantine/${checkDid(did)}/`)
  }

  async getQuarantinedBytes(did: string, cid: Cid | string): Promise<Uint8Array> {
    const res = await this.run(() => this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: quarantineKey(did, cid) })), 'get')
    if (!res.Body) throw new BlobNotFoundError()
    try {
      return await res.Body.transformToByteArray()
    } catch (err) {
      throw this.unavailable(err, 'get')
    }
  }

  async putQuarantined(did: string, cid: Cid, bytes: Uint8Array): Promise<void> {
    if (!bytesMatchCid(cid, bytes)) throw new Error(`bytes do not hash to ${cid.$link}`)
    await this.run(() => this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: quarantineKey(did, cid), Body: bytes })), 'put')
  }

  deleteStoredFile(did: string, name: string): Promise<void> {
    return this.deleteKey(`blocks/${checkDid(did)}/${checkFileName(name)}`)
  }

  private async list(prefix: string): Promise<FileEntry[]> {
    const out: FileEntry[] = []
    let token: string | undefined
    do {
      const res = await this.run(() => this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
        'list',
      )
      for (const obj of res.Contents ?? []) {
        const name = obj.Key?.slice(prefix.length)
        // Deeper keys are not the layout's: leave them alone.
        if (!name || name.includes('/')) continue
        out.push({ name, size: obj.Size ?? 0, mtimeMs: obj.LastModified?.getTime() ?? 0 })
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined
    } while (token)
    return out
  }

  private async hasKey(key: string): Promise<boolean> {
    try {
      await this.run(() => this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key })), 'head')
      return true
    } catch (err) {
      if (err instanceof BlobNotFoundError) return false
      throw err
    }
  }

  private async deleteKey(key: string): Promise<void> {
    // Deleting a missing key succeeds in S3.
    await this.run(() => this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key })), 'delete')
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    const errors: unknown[] = []
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH)
      try {
        const res = await this.run(() => this.client.send(new this.sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
          'delete',
        )
        for (const e of res.Errors ?? []) errors.push(new Error(`could not delete ${e.Key}: ${e.Code ?? ''} ${e.Message ?? ''}`.trim()))
      } catch (err) {
        errors.push(err)
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `could not delete ${errors.length} blob object(s)`)
  }

  /** Copy, then delete the source. BlobNotFoundError when the source is gone. */
  private async move(from: string, to: string): Promise<void> {
    await this.run(() => this.client.send(new this.sdk.CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: copySource(this.bucket, from) })), 'copy')
    // A concurrent mover may have deleted the source already; S3 answers a delete of a missing
    // key with success, and some compatible stores with NoSuchKey: neither is an error.
    try {
      await this.deleteKey(from)
    } catch (err) {
      if (!(err instanceof BlobNotFoundError)) throw err
    }
  }

  /** Runs a request; a missing key becomes BlobNotFoundError, any other failure is named. */
  private async run<T>(request: () => Promise<T>, op: string): Promise<T> {
    try {
      return await request()
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError()
      throw this.unavailable(err, op)
    }
  }

  private unavailable(err: unknown, op: string): BlobStoreUnavailableError {
    const reason = describeS3Error(err, this.bucket, this.endpointName)
    this.logger?.error({ op, bucket: this.bucket, reason }, 'blob store request failed')
    return new BlobStoreUnavailableError(reason, { cause: err })
  }

  private uploadError(err: unknown, timedOut: boolean, key: string): Error {
    if (timedOut || isTimeout(err)) {
      this.logger?.warn({ bucket: this.bucket, key, timeoutMs: this.uploadTimeoutMs }, 'blob upload timed out')
      return new BlobUploadTimeoutError({ cause: err })
    }
    if (err instanceof BlobStoreUnavailableError) return err
    return this.unavailable(err, 'upload')
  }
}

function tempKey(did: string, key: string): string {
  return `tmp/${checkDid(did)}/${checkKey(key)}`
}

function storedKey(did: string, cid: Cid | string): string {
  return `blocks/${checkDid(did)}/${cidName(cid)}`
}

function quarantineKey(did: string, cid: Cid | string): string {
  return `quarantine/${checkDid(did)}/${cidName(cid)}`
}

// The copy source is URL-encoded: a did:web with a port holds a `%` that must be escaped to
// name the key itself. Reserved characters (the DID's `:`) stay as they are, as the official
// sends them, since some compatible stores decode the header with decodeURI only.
function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURI(key)}`
}

interface Multipart {
  /** The upload failed (the error is thrown by end). */
  failed(): boolean
  write(chunk: Uint8Array): Promise<void>
  /** Ends the body and waits for the upload to complete. */
  end(): Promise<void>
  /** Stops the body; true if the upload failed (so left nothing), false if it completed. */
  cancel(): Promise<boolean>
}

function waitDrain(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
  })
}

interface SdkError {
  name?: string
  code?: string
  message?: string
  $metadata?: { httpStatusCode?: number }
  Code?: string
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkError | null
  if (!e) return false
  if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.Code === 'NoSuchKey') return true
  // A HEAD has no body to name the error: a 404 on an object is a missing key, unless the
  // bucket itself is what is missing (named separately).
  return e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket'
}

function isTimeout(err: unknown): boolean {
  const e = err as SdkError | null
  return e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.code === 'ETIMEDOUT'
}

/** What went wrong, for a person: never a secret (the SDK's messages carry none). */
export function describeS3Error(err: unknown, bucket: string, endpoint: string): string {
  const e = (err ?? {}) as SdkError & { errors?: unknown[] }
  const status = e.$metadata?.httpStatusCode
  const code = e.code ?? (Array.isArray(e.errors) ? (e.errors[0] as SdkError | undefined)?.code : undefined)
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ECONNRESET' || code === 'EHOSTUNREACH') {
    return `cannot reach the object store at ${endpoint} (${code})`
  }
  if (isTimeout(err)) return `the object store at ${endpoint} did not answer in time`
  if (e.name === 'NoSuchBucket' || (status === 404 && e.name !== 'NoSuchKey')) {
    return `the bucket ${JSON.stringify(bucket)} does not exist at ${endpoint} (PDS_BLOBSTORE_S3_BUCKET)`
  }
  if (
    e.name === 'InvalidAccessKeyId' ||
    e.name === 'SignatureDoesNotMatch' ||
    e.name === 'AccessDenied' ||
    e.name === 'Forbidden' ||
    status === 403 ||
    status === 401
  ) {
    return `the object store refused these credentials for bucket ${JSON.stringify(bucket)} (${e.name ?? status}; check PDS_BLOBSTORE_S3_ACCESS_KEY_ID and PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY)`
  }
  if (/region/i.test(e.message ?? '') && /missing/i.test(e.message ?? '')) {
    return 'no region for the object store: set PDS_BLOBSTORE_S3_REGION'
  }
  return `the object store at ${endpoint} failed: ${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}${e.message ? `: ${e.message}` : ''}`
}
