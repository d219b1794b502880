// The HTTP client behind the proxy: keep-alive agents, the SSRF guard for endpoints taken from
// DID documents, bounded waits, and the official mapping of upstream failures to XRPC errors.
//
// Two kinds of destination. Services the operator configured (PDS_BSKY_APP_VIEW_URL,
// PDS_MOD_SERVICE_URL, PDS_REPORT_SERVICE_URL) are trusted: they may live on a private network.
// Endpoints read from a DID document named by an `atproto-proxy` header are chosen by whoever
// controls that document, so they go through the guard (public unicast addresses only, checked
// at connect time, https only) unless PDS_DISABLE_SSRF_PROTECTION (default: dev mode) turns it
// off.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import * as http from 'node:http'
import * as https from 'node:https'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream'
import { type AddressResolver, assertSafeUrl, createSafeAgent } from '../identity/safe-fetch.ts'
import type { Logger } from '../logger.ts'
import { XrpcError } from '../errors.ts'

export interface UpstreamTarget {
  /** The service's DID (the audience of the service token). */
  did: string
  /** Base URL (origin, maybe with a path prefix the request path is appended to). */
  url: string
  /** Configured by the operator: reached without the SSRF guard. */
  trusted: boolean
}

export interface UpstreamRequest {
  method: 'GET' | 'HEAD' | 'POST'
  /** Path and query, e.g. `/xrpc/app.bsky.feed.getTimeline?limit=30`. */
  path: string
  /** Undefined values are left out. */
  headers: Record<string, string | undefined>
  body?: Readable | Uint8Array | null
  /** Aborted when the client that asked went away: the upstream request is dropped too. */
  signal?: AbortSignal
}

export interface ProxyClientOptions {
  /** Let endpoints from DID documents be private/loopback addresses (PDS_DISABLE_SSRF_PROTECTION). */
  allowPrivate: boolean
  /** PDS_PROXY_HEADERS_TIMEOUT: from sending the request to the response headers. */
  headersTimeoutMs: number
  /** PDS_PROXY_BODY_TIMEOUT: the longest silence while the response body streams. */
  bodyTimeoutMs: number
  /** PDS_PROXY_MAX_RESPONSE_SIZE: bigger responses are cut off. */
  maxResponseSize: number
  logger: Logger
  /** DNS for guarded hosts (tests). */
  resolve?: AddressResolver
  /**
   * PDS_PROXY_MAX_RETRIES: as the official (undici RetryAgent with no status codes), GET and
   * HEAD requests that fail on a socket error before any response are sent again, this many
   * times at most, after 0.5 s, 1 s, 2 s… (capped at 30 s). Default 0.
   */
  maxRetries?: number
  /** The first retry delay (tests); default 500 ms. */
  retryDelayMs?: number
}

// The socket errors undici's RetryHandler retries by default (the official sets no others).
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ENOTFOUND',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'EPIPE',
])

/** A request that got no response: why, and whether sending it again may help. */
class SendFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly aborted = false,
  ) {
    super(message)
  }
}

/** The client went away before the upstream answered (nothing is left to answer). */
export const clientGone = (): XrpcError => new XrpcError(499, 'ClientClosedRequest', 'The client closed the request')

/** Response headers the official PDS passes back (besides the content headers). */
const FORWARDED_RESPONSE_HEADERS = ['atproto-repo-rev', 'atproto-content-labelers', 'retry-after'] as const
const CONTENT_HEADERS = ['content-length', 'content-encoding', 'content-type', 'content-language'] as const

/** The headers of an upstream response that go back to the client, as the official. */
export function forwardedResponseHeaders(headers: IncomingHttpHeaders, includeContent = true): Record<string, string> {
  const out: Record<string, string> = {}
  if (includeContent) {
    for (const name of CONTENT_HEADERS) {
      const value = headers[name]
      if (typeof value === 'string' && value !== '') out[name] = value
    }
  }
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = headers[name]
    if (value != null) out[name] = Array.isArray(value) ? value.join(',') : value
  }
  return out
}

// @atproto/xrpc ResponseType names and texts, by status.
const STATUS_NAMES: Record<number, [string, string]> = {
  400: ['InvalidRequest', 'Invalid Request'],
  401: ['AuthenticationRequired', 'Authentication Required'],
  403: ['Forbidden', 'Forbidden'],
  404: ['XRPCNotSupported', 'XRPC Not Supported'],
  406: ['NotAcceptable', 'Not Acceptable'],
  413: ['PayloadTooLarge', 'Payload Too Large'],
  415: ['UnsupportedMediaType', 'Unsupported Media Type'],
  429: ['RateLimitExceeded', 'Rate Limit Exceeded'],
  500: ['InternalServerError', 'Internal Server Error'],
  501: ['MethodNotImplemented', 'Method Not Implemented'],
  502: ['UpstreamFailure', 'Upstream Failure'],
  503: ['NotEnoughResources', 'Not Enough Resources'],
  504: ['UpstreamTimeout', 'Upstream Timeout'],
}

/**
 * An upstream answered with an error status. As the official PipethroughUpstreamError: the
 * status passes through except 500, which becomes 502; the error name and message are the
 * upstream's when it sent JSON ones; the non-content forwarded headers go on the response.
 */
export class UpstreamError extends XrpcError {
  readonly upstreamStatus: number
  readonly upstreamHeaders: Record<string, string>

  constructor(status: number, headers: IncomingHttpHeaders, payload: { error?: string; message?: string }) {
    const mapped = status === 500 ? 502 : status
    const names = STATUS_NAMES[mapped]
    const forwarded = forwardedResponseHeaders(headers, false)
    super(mapped, payload.error ?? names?.[0] ?? 'UnknownError', payload.message || names?.[1] || 'Unknown Error', forwarded)
    this.upstreamStatus = status
    this.upstreamHeaders = forwarded
  }
}

/** A successful upstream response: its body is size- and idle-limited. */
export interface UpstreamResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Readable
}

export const upstreamUnreachable = (): XrpcError => new XrpcError(502, 'UpstreamFailure', 'Upstream service unreachable')

export function isJsonContentType(contentType: string | undefined): boolean | undefined {
  if (!contentType) return undefined
  return /application\/(?:\w+\+)?json/i.test(contentType)
}

const MAX_ERROR_BODY = 64 * 1024

export class ProxyClient {
  readonly #opts: ProxyClientOptions
  readonly #trusted: { http: http.Agent; https: https.Agent }
  readonly #guarded: { http: http.Agent; https: http.Agent }

  constructor(opts: ProxyClientOptions) {
    this.#opts = opts
    this.#trusted = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) }
    const guard = { allowPrivate: opts.allowPrivate, resolve: opts.resolve, keepAlive: true }
    this.#guarded = { http: createSafeAgent('http:', guard), https: createSafeAgent('https:', guard) }
  }

  get maxResponseSize(): number {
    return this.#opts.maxResponseSize
  }

  /**
   * Sends a request and resolves with the response once its headers are in (status < 400), its
   * body left to the caller. An error status rejects with UpstreamError; no answer in time, a
   * refused destination or a network failure with 502 UpstreamFailure.
   */
  async request(target: UpstreamTarget, req: UpstreamRequest): Promise<UpstreamResponse> {
    const retries = req.method === 'GET' || req.method === 'HEAD' ? (this.#opts.maxRetries ?? 0) : 0
    let sent: { outgoing: http.ClientRequest; res: IncomingMessage }
    for (let attempt = 0; ; attempt++) {
      try {
        sent = await this.#send(target, req)
        break
      } catch (err) {
        if (!(err instanceof SendFailure)) throw err
        if (err.aborted) throw clientGone()
        if (!err.retryable || attempt >= retries) {
          // The reason only: the request carries a token that must not reach the logs.
          this.#opts.logger.warn({ service: target.did, reason: err.message, attempts: attempt + 1 }, 'Upstream service unreachable')
          throw upstreamUnreachable()
        }
        const delay = Math.min((this.#opts.retryDelayMs ?? 500) * 2 ** attempt, 30_000)
        if (!(await sleep(delay, req.signal))) throw clientGone()
      }
    }
    const { outgoing, res } = sent
    if (res.statusCode === undefined || res.statusCode >= 400) {
      const status = res.statusCode ?? 502
      throw new UpstreamError(status, res.headers, await readErrorPayload(res))
    }
    return { statusCode: res.statusCode, headers: res.headers, body: this.#limitBody(outgoing, res, req.signal) }
  }

  #send(target: UpstreamTarget, req: UpstreamRequest): Promise<{ outgoing: http.ClientRequest; res: IncomingMessage }> {
    let url: URL
    try {
      url = new URL(joinPath(target.url, req.path))
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`)
      if (!target.trusted) {
        // As the official guard: a destination someone else chose is https, on a public address.
        if (!this.#opts.allowPrivate && url.protocol !== 'https:') throw new Error('only https destinations are allowed')
        assertSafeUrl(url, { allowPrivate: this.#opts.allowPrivate })
      }
    } catch (err) {
      this.#opts.logger.warn({ service: target.did, reason: (err as Error).message }, 'proxy destination refused')
      return Promise.reject(new SendFailure((err as Error).message, false))
    }
    const signal = req.signal
    if (signal?.aborted) return Promise.reject(new SendFailure('client closed the request', false, true))
    const agents = target.trusted ? this.#trusted : this.#guarded
    const agent = url.protocol === 'https:' ? agents.https : agents.http
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = value
    return new Promise((resolve, reject) => {
      const outgoing = (url.protocol === 'https:' ? https : http).request(url, { method: req.method, headers, agent })
      let settled = false
      const fail = (failure: SendFailure) => {
        if (settled) return
        settled = true
        clearTimeout(headersTimer)
        signal?.removeEventListener('abort', onAbort)
        outgoing.destroy()
        reject(failure)
      }
      const onAbort = () => fail(new SendFailure('client closed the request', false, true))
      signal?.addEventListener('abort', onAbort, { once: true })
      const headersTimer = setTimeout(() => fail(new SendFailure('upstream headers timeout', false)), this.#opts.headersTimeoutMs)
      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        // A request body that already went out cannot be sent again.
        fail(new SendFailure(err.message, req.body == null && err.code !== undefined && RETRYABLE_CODES.has(err.code)))
      })
      outgoing.on('response', (res) => {
        if (settled) {
          res.destroy()
          return
        }
        settled = true
        clearTimeout(headersTimer)
        signal?.removeEventListener('abort', onAbort)
        resolve({ outgoing, res })
      })
      const body = req.body
      if (body == null) outgoing.end()
      else if (body instanceof Uint8Array) outgoing.end(body)
      else {
        body.on('error', (err) => fail(new SendFailure(err.message, false)))
        body.pipe(outgoing)
      }
    })
  }

  /** Idle and size limits on a response body: either one ends the body with an error. */
  #limitBody(outgoing: http.ClientRequest, res: IncomingMessage, signal: AbortSignal | undefined): Readable {
    const limited = new SizeLimit(this.#opts.maxResponseSize)
    outgoing.setTimeout(this.#opts.bodyTimeoutMs, () => res.destroy(new Error('upstream body timeout')))
    // A client that leaves while the body streams (or before a handler read it) ends it here too.
    const onAbort = () => res.destroy(new Error('client closed the request'))
    signal?.addEventListener('abort', onAbort, { once: true })
    pipeline(res, limited, () => {
      outgoing.setTimeout(0)
      signal?.removeEventListener('abort', onAbort)
    })
    return limited
  }

  close(): void {
    for (const agent of [this.#trusted.http, this.#trusted.https, this.#guarded.http, this.#guarded.https]) agent.destroy()
  }
}

class SizeLimit extends Transform {
  #left: number
  constructor(max: number) {
    super()
    this.#left = max
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#left -= chunk.length
    if (this.#left < 0) done(new Error('upstream response too large'))
    else done(null, chunk)
  }
}

/** Reads an error response's `{error, message}` when it is JSON; anything else is dropped. */
async function readErrorPayload(res: IncomingMessage): Promise<{ error?: string; message?: string }> {
  if (isJsonContentType(res.headers['content-type']) !== true) {
    res.resume()
    return {}
  }
  try {
    const body = await readResponseBody({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res }, MAX_ERROR_BODY)
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown> | null
    return {
      error: typeof parsed?.error === 'string' ? parsed.error : undefined,
      message: typeof parsed?.message === 'string' ? parsed.message : undefined,
    }
  } catch {
    return {}
  }
}

/** Reads a whole (successful) response body, decoded, within the size limit. */
export async function readResponseBody(res: UpstreamResponse, limit: number): Promise<Buffer> {
  const encoding = (String(res.headers['content-encoding'] ?? 'identity')).trim().toLowerCase()
  let stream: Readable = res.body
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : null
  if (decoder) stream = pipeline(res.body, decoder, () => {})
  else if (encoding !== 'identity' && encoding !== '') {
    res.body.destroy()
    throw new XrpcError(502, 'UpstreamFailure', `unsupported content-encoding: ${encoding}`)
  }
  const chunks: Buffer[] = []
  let total = 0
  let tooLarge = false
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > limit) {
        tooLarge = true
        break
      }
      chunks.push(chunk)
    }
  } catch {
    res.body.destroy()
    stream.destroy()
    throw new XrpcError(502, 'UpstreamFailure', 'unable to decode the upstream response')
  }
  if (tooLarge) {
    res.body.destroy()
    stream.destroy()
    throw new XrpcError(502, 'UpstreamFailure', `upstream response too large (the limit is ${limit} bytes)`)
  }
  return Buffer.concat(chunks, total)
}

/** Waits `ms`; false when the signal aborted first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function joinPath(base: string, path: string): string {
  return base.endsWith('/') ? base.slice(0, -1) + path : base + path
}
