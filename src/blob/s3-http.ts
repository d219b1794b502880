// The two S3 requests a PDS makes at the rate it serves blobs, made here rather than through the
// SDK: getBlob's GetObject and uploadBlob's PutObject of a blob that fits one part. The SDK's
// per-request machinery (a copy of its middleware stack, endpoint rules, identity and signing
// steps, and the garbage of it all, alive for as long as the body streams; for a PUT also a
// second sha-256 of the body and a copy of it into one buffer) cost more CPU than moving the
// megabyte itself (docs/BENCHMARKS.md, "S3 path, fourth round"). Here:
// the object's URL from a base the SDK resolved once (S3BlobStore), a SigV4 header signature
// made by the SDK's own signer, one request on the store's keep-alive agent, and the SDK's retry and timeout rules
// for it (three attempts with a jittered back-off on a network error, a timeout, a 5xx or a
// 429; the socket may sit idle no longer than the request timeout, while connecting or
// streaming; a refusal for a skewed clock is sent again at the store's time). Everything else
// the store does goes through the SDK.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { SignatureV4 } from '@smithy/signature-v4'

/** Where a bucket's objects are: the SDK's resolution for one key, minus the key. */
export interface ObjectBase {
  protocol: 'http:' | 'https:'
  hostname: string
  port: number | undefined
  /** The path up to the key: `/<bucket>/` (path style) or `/` (bucket in the host name). */
  pathPrefix: string
}

export interface S3Identity {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface RequestOptions {
  base: ObjectBase
  key: string
  region: string
  identity: S3Identity
  /** Added to this machine's clock (the SDK's correction after a RequestTimeTooSkewed). */
  clockOffsetMs: number
  /** Told the new offset when the store refused a request as skewed and its clock differs. */
  onClockSkew?: (offsetMs: number) => void
  agent: http.Agent
  connectTimeoutMs: number
  /** How long the socket may sit idle: before the answer starts, and between bytes after. */
  idleTimeoutMs: number
  /** Stops the request, and its retries (the error is named AbortError). */
  signal?: AbortSignal
}

/** A PutObject's body: its chunks (sent as they are, again on a retry) and their sha256. */
export interface PutBody {
  chunks: readonly Uint8Array[]
  size: number
  sha256Hex: string
}

/** An S3 error answer or a failed request, shaped as the SDK's errors are (name, $metadata, code). */
export interface S3RequestError extends Error {
  code?: string
  $metadata?: { httpStatusCode?: number }
}

const MAX_ATTEMPTS = 3
const BASE_DELAY_MS = 100
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestThrottled', 'TooManyRequestsException'])
const CLOCK_SKEW = new Set(['RequestTimeTooSkewed', 'RequestExpired', 'RequestInTheFuture', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'AuthFailure'])
/** How far the store's clock may be from the signed time before it refuses (the SDK's rule). */
const SKEW_MS = 5 * 60_000

/** The path of a key below a base: each segment encoded as the SDK encodes a greedy label. */
export function objectPath(base: ObjectBase, key: string): string {
  return base.pathPrefix + key.split('/').map(encodeSegment).join('/')
}

function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function hostHeader(base: ObjectBase): string {
  const defaultPort = base.protocol === 'https:' ? 443 : 80
  return base.port === undefined || base.port === defaultPort ? base.hostname : `${base.hostname}:${base.port}`
}

/** node's sha256 for the signer, as the SDK's own node runtime gives it (not a JavaScript hash). */
type SourceData = string | ArrayBuffer | ArrayBufferView

function bytesOf(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

class NodeSha256 {
  readonly #hash: Hash | Hmac
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret))
  }
  update(data: SourceData): void {
    this.#hash.update(bytesOf(data))
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest())
  }
}

// One signer per identity and region: the signer keeps the day's signing key.
const signers = new WeakMap<S3Identity, Map<string, SignatureV4>>()

// Loaded with the SDK, by a server whose blobs are in a bucket: one on disk never needs it.
let Signer: typeof SignatureV4 | null = null

async function signerFor(identity: S3Identity, region: string): Promise<SignatureV4> {
  Signer ??= (await import('@smithy/signature-v4')).SignatureV4
  let byRegion = signers.get(identity)
  if (!byRegion) signers.set(identity, (byRegion = new Map()))
  let signer = byRegion.get(region)
  if (!signer) {
    // S3's flavour: the path is signed as it is sent (not encoded again).
    signer = new Signer({ service: 's3', region, credentials: identity, sha256: NodeSha256, uriEscapePath: false, applyChecksum: true })
    byRegion.set(region, signer)
  }
  return signer
}

/**
 * A request's headers signed with AWS Signature Version 4 by the SDK's own signer. The payload is
 * signed by the sha256 given (the blob's, computed once for its CID; the empty body's for a GET):
 * the signer takes `x-amz-content-sha256` as it is instead of hashing the body again.
 */
export async function signedHeaders(o: {
  method: 'GET' | 'PUT'
  host: string
  path: string
  region: string
  identity: S3Identity
  now: Date
  payloadSha256Hex?: string
  contentLength?: number
}): Promise<Record<string, string>> {
  const headers: Record<string, string> = { host: o.host, 'x-amz-content-sha256': o.payloadSha256Hex ?? EMPTY_SHA256 }
  if (o.contentLength !== undefined) headers['content-length'] = String(o.contentLength)
  const signed = await (await signerFor(o.identity, o.region)).sign(
    { method: o.method, protocol: 'https:', hostname: o.host, path: o.path, query: {}, headers },
    { signingDate: o.now },
  )
  return signed.headers
}

/**
 * GETs an object: the answer's body as a stream on a 200, else an S3RequestError (a 404 named
 * NoSuchKey or NoSuchBucket as S3 names it), after the retries a transient failure gets.
 */
export function getObject(o: RequestOptions): Promise<IncomingMessage> {
  return withRetries(o, (offsetMs) => requestOnce(o, null, offsetMs))
}

/**
 * PUTs an object and resolves once the store has answered that it holds it (a 200), else an
 * S3RequestError after the retries a transient failure gets (the body is sent again whole).
 */
export async function putObject(o: RequestOptions, body: PutBody): Promise<void> {
  const res = await withRetries(o, (offsetMs) => requestOnce(o, body, offsetMs))
  res.resume()
  await new Promise<void>((resolve, reject) => {
    res.once('end', resolve)
    res.once('error', reject)
  })
}

async function withRetries(o: RequestOptions, send: (clockOffsetMs: number) => Promise<IncomingMessage>): Promise<IncomingMessage> {
  let offsetMs = o.clockOffsetMs
  for (let attempt = 1; ; attempt++) {
    let res: IncomingMessage
    try {
      res = await send(offsetMs)
    } catch (err) {
      if (attempt < MAX_ATTEMPTS && !o.signal?.aborted && isTransient(err as S3RequestError)) {
        await backoff(attempt)
        continue
      }
      throw err
    }
    if (res.statusCode === 200) return res
    const err = await errorOf(res)
    const status = res.statusCode ?? 0
    if (attempt < MAX_ATTEMPTS && !o.signal?.aborted) {
      // A refusal for a skewed clock is retried at once with the store's time, as the SDK does.
      const serverMs = CLOCK_SKEW.has(err.name) ? Date.parse(String(res.headers.date)) : Number.NaN
      if (!Number.isNaN(serverMs) && Math.abs(Date.now() + offsetMs - serverMs) >= SKEW_MS) {
        offsetMs = serverMs - Date.now()
        o.onClockSkew?.(offsetMs)
        continue
      }
      if (status >= 500 || status === 429 || THROTTLING.has(err.name)) {
        await backoff(attempt)
        continue
      }
    }
    throw err
  }
}

async function requestOnce(o: RequestOptions, body: PutBody | null, clockOffsetMs: number): Promise<IncomingMessage> {
  if (o.signal?.aborted) throw abortError()
  const path = objectPath(o.base, o.key)
  const headers = await signedHeaders({
    method: body ? 'PUT' : 'GET',
    host: hostHeader(o.base),
    path,
    region: o.region,
    identity: o.identity,
    now: new Date(Date.now() + clockOffsetMs),
    payloadSha256Hex: body?.sha256Hex,
    contentLength: body?.size,
  })
  const send = o.base.protocol === 'https:' ? https.request : http.request
  return new Promise((resolve, reject) => {
    const req = send({
      protocol: o.base.protocol,
      hostname: o.base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: o.base.port,
      path,
      method: body ? 'PUT' : 'GET',
      headers,
      agent: o.agent,
    })
    const onAbort = () => req.destroy(abortError())
    o.signal?.addEventListener('abort', onAbort, { once: true })
    req.setTimeout(o.idleTimeoutMs, () => req.destroy(timeoutError(`no answer from the object store within ${o.idleTimeoutMs} ms`)))
    req.once('socket', (socket) => {
      if (!socket.connecting) return
      const timer = setTimeout(() => req.destroy(timeoutError(`could not connect to the object store within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs)
      socket.once('connect', () => clearTimeout(timer))
      socket.once('close', () => clearTimeout(timer))
    })
    req.once('close', () => o.signal?.removeEventListener('abort', onAbort))
    req.once('response', resolve)
    req.once('error', reject)
    if (body) {
      // Corked, so the chunks leave in one writev.
      req.cork()
      for (const chunk of body.chunks) req.write(chunk)
      req.uncork()
    }
    req.end()
  })
}

/** An S3 error answer: its XML names the error (a HEAD's has no body; these are a GET and a PUT). */
async function errorOf(res: IncomingMessage): Promise<S3RequestError> {
  let text = ''
  try {
    for await (const chunk of res) {
      if (text.length < 16_384) text += (chunk as Buffer).toString('utf8')
    }
  } catch {
    // The answer's status says enough.
  }
  const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1]
  const status = res.statusCode ?? 0
  const name = field('Code') ?? (status === 404 ? 'NotFound' : `HTTP${status}`)
  const err = new Error(field('Message') ?? `the object store answered HTTP ${status}`) as S3RequestError
  err.name = name
  err.$metadata = { httpStatusCode: status }
  return err
}

function abortError(): S3RequestError {
  const err = new Error('the request was stopped') as S3RequestError
  err.name = 'AbortError'
  return err
}

function timeoutError(message: string): S3RequestError {
  const err = new Error(message) as S3RequestError
  err.name = 'TimeoutError'
  return err
}

function isTransient(err: S3RequestError): boolean {
  return err.name === 'TimeoutError' || (err.code !== undefined && RETRYABLE_CODES.has(err.code))
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * BASE_DELAY_MS * 2 ** attempt
  return new Promise((resolve) => setTimeout(resolve, ms))
}
