// HTTP requests to URLs that came from users or their documents (handle well-known files,
// did:web documents, service endpoints from DID documents, OAuth client metadata): SSRF-guarded,
// bounded in time and size.
//
// The guard sits where the address is chosen. A hostname is resolved once, every address it
// resolves to must be public unicast (see ip-range.ts), and the connection is made to those
// very addresses through the socket's `lookup` hook: a DNS answer that changes between the check
// and the connection (rebinding) cannot redirect it. IP-literal hosts never reach `lookup`, so
// they are checked up front. Each redirect hop goes through the same checks, and an https URL may
// not redirect to http.
//
// Hearth's own guard rather than @atproto-labs/fetch-node: that package declares Node >= 22, and
// its current release does not even load on Node 20 (the undici 8 it pulls in needs zstd), while
// Hearth must run on 20. node:http with a checked lookup is all the guard needs.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import * as http from 'node:http'
import * as https from 'node:https'
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP, type LookupFunction } from 'node:net'
import { isPublicAddress, isUnicastAddress } from './ip-range.ts'

export class SsrfError extends Error {
  override name = 'SsrfError'
}

export type SafeFetchErrorCode = 'TIMEOUT' | 'TOO_LARGE' | 'REDIRECT' | 'PROTOCOL' | 'NETWORK' | 'ABORTED'

export class SafeFetchError extends Error {
  override name = 'SafeFetchError'
  constructor(
    readonly code: SafeFetchErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

/** Resolves a hostname to every address it has (the default is the system resolver). */
export type AddressResolver = (hostname: string) => Promise<ResolvedAddress[]>

export const systemResolver: AddressResolver = async (hostname) => {
  // All addresses, in the order the system gives them (Node >= 17 no longer reorders by family).
  const found = await dnsLookup(hostname, { all: true })
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
}

export interface GuardOptions {
  /** Allow private, loopback and link-local destinations (local mode and tests). */
  allowPrivate?: boolean
  /** Non-public addresses allowed anyway (e.g. an operator's internal service). */
  allowAddress?: (address: string) => boolean
  resolve?: AddressResolver
}

function addressAllowed(address: string, opts: GuardOptions): boolean {
  // Relaxed rules reach loopback and private addresses, never "any address", multicast or broadcast.
  if (!isUnicastAddress(address)) return false
  return opts.allowPrivate === true || isPublicAddress(address) || opts.allowAddress?.(address) === true
}

/**
 * A socket `lookup` that resolves with `resolve` and refuses (SsrfError) a hostname any of whose
 * addresses is not public. Usable on an http(s) Agent or request, or by any other client.
 */
export function guardedLookup(opts: GuardOptions = {}): LookupFunction {
  const resolve = opts.resolve ?? systemResolver
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname })
          return callback(err, '', 0)
        }
        if (addresses.some((a) => !addressAllowed(a.address, opts))) {
          return callback(new SsrfError(`${hostname} resolves to a non-public address`), '', 0)
        }
        const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0
        const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family)
        if (usable.length === 0) {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname })
          return callback(err, '', 0)
        }
        if (options.all) {
          ;(callback as unknown as (err: null, addresses: ResolvedAddress[]) => void)(null, usable)
        } else {
          callback(null, usable[0].address, usable[0].family)
        }
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, '', 0),
    )
  }
}

/**
 * Refuses a URL before any connection: protocol other than http(s), credentials in it, or an
 * IP-literal host that is not public (unless allowed).
 */
export function assertSafeUrl(url: URL, opts: GuardOptions = {}): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SafeFetchError('PROTOCOL', `unsupported protocol ${url.protocol}`)
  if (url.username || url.password) throw new SafeFetchError('PROTOCOL', 'credentials in URL')
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) !== 0 && !addressAllowed(host, opts)) {
    throw new SsrfError(`${host} is not a public address`)
  }
}

/** A keep-alive agent whose every connection goes through the guard (for proxies). */
export function createSafeAgent(protocol: 'http:' | 'https:', opts: GuardOptions & { keepAlive?: boolean } = {}): http.Agent {
  const agentOpts = { keepAlive: opts.keepAlive ?? true, lookup: guardedLookup(opts) }
  return protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts)
}

export interface SafeRequestOptions extends GuardOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  /** Deadline for the whole exchange, body included (default 10 s). */
  timeoutMs?: number
  signal?: AbortSignal
  /** An agent from createSafeAgent; by default each request has its own connection. */
  agent?: http.Agent
}

export interface SafeFetchOptions extends SafeRequestOptions {
  /** Largest body read (default 1 MiB); more is an error, not a truncation. */
  maxBytes?: number
  /** Redirects followed, each re-checked (default 0: a redirect is an error). */
  maxRedirects?: number
}

export interface SafeResponse {
  /** The URL that answered (after redirects). */
  url: string
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text(): string
  json(): unknown
}

export interface SafeStreamResponse {
  url: string
  status: number
  headers: IncomingHttpHeaders
  /** The body stream; the caller must consume or destroy it. */
  body: IncomingMessage
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_MAX_BYTES = 1024 * 1024

/** A deadline and the caller's signal, as one signal with a reason we can tell apart. */
function deadline(timeoutMs: number, outer?: AbortSignal): { signal: AbortSignal; done(): void } {
  const ctl = new AbortController()
  const timer = setTimeout(() => ctl.abort(new SafeFetchError('TIMEOUT', `timed out after ${timeoutMs} ms`)), timeoutMs)
  const onOuter = () => ctl.abort(new SafeFetchError('ABORTED', 'aborted'))
  if (outer?.aborted) onOuter()
  else outer?.addEventListener('abort', onOuter, { once: true })
  return {
    signal: ctl.signal,
    done() {
      clearTimeout(timer)
      outer?.removeEventListener('abort', onOuter)
    },
  }
}

function mapError(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted && signal.reason instanceof SafeFetchError) return signal.reason
  if (err instanceof SsrfError || err instanceof SafeFetchError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new SafeFetchError('NETWORK', `request failed: ${message}`, { cause: err })
}

function openOnce(url: URL, opts: SafeRequestOptions, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    try {
      assertSafeUrl(url, opts)
    } catch (err) {
      reject(err)
      return
    }
    const mod = url.protocol === 'https:' ? https : http
    const req = mod.request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      agent: opts.agent ?? false,
      lookup: opts.agent ? undefined : guardedLookup(opts),
      signal,
    })
    req.once('error', (err) => reject(mapError(err, signal)))
    req.once('response', resolve)
    req.end(opts.body)
  })
}

/** One request, no redirects followed; resolves once the headers are in, with the body unread. */
export async function safeRequest(input: string | URL, opts: SafeRequestOptions = {}): Promise<SafeStreamResponse> {
  const url = new URL(input)
  const { signal, done } = deadline(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal)
  try {
    const res = await openOnce(url, opts, signal)
    // The deadline covers the body too: tear the stream down if it is still open then.
    const onAbort = () => res.destroy(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    res.once('close', () => {
      signal.removeEventListener('abort', onAbort)
      done()
    })
    return { url: url.href, status: res.statusCode ?? 0, headers: res.headers, body: res }
  } catch (err) {
    done()
    throw err
  }
}

function readLimited(res: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(res.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.destroy()
      reject(new SafeFetchError('TOO_LARGE', `response larger than ${maxBytes} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        res.destroy()
        reject(new SafeFetchError('TOO_LARGE', `response larger than ${maxBytes} bytes`))
        return
      }
      chunks.push(chunk)
    })
    res.once('end', () => resolve(Buffer.concat(chunks)))
    res.once('error', (err) => reject(mapError(err, signal)))
    res.once('close', () => {
      if (!res.complete) reject(mapError(new Error('response closed early'), signal))
    })
  })
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

/** A request with its body read (bounded), following up to `maxRedirects` re-checked redirects. */
export async function safeFetch(input: string | URL, opts: SafeFetchOptions = {}): Promise<SafeResponse> {
  let url = new URL(input)
  const maxRedirects = opts.maxRedirects ?? 0
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
  const { signal, done } = deadline(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal)
  let hopOpts: SafeRequestOptions = opts
  try {
    for (let hop = 0; ; hop++) {
      const res = await openOnce(url, hopOpts, signal)
      const status = res.statusCode ?? 0
      const location = res.headers.location
      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        res.resume()
        if (hop >= maxRedirects) throw new SafeFetchError('REDIRECT', `redirect refused (${status})`)
        const next = new URL(location, url)
        if (url.protocol === 'https:' && next.protocol !== 'https:') {
          throw new SafeFetchError('REDIRECT', 'redirect from https to another protocol refused')
        }
        const method = (hopOpts.method ?? 'GET').toUpperCase()
        if (method !== 'GET' && method !== 'HEAD') throw new SafeFetchError('REDIRECT', `redirect of a ${method} refused`)
        // Credentials meant for one origin are not handed to another.
        if (next.origin !== url.origin && hopOpts.headers) {
          const headers = Object.fromEntries(
            Object.entries(hopOpts.headers).filter(([k]) => !['authorization', 'cookie', 'proxy-authorization'].includes(k.toLowerCase())),
          )
          hopOpts = { ...hopOpts, headers }
        }
        url = next
        continue
      }
      const body = await readLimited(res, maxBytes, signal)
      return {
        url: url.href,
        status,
        headers: res.headers,
        body,
        text: () => body.toString('utf8'),
        json: () => JSON.parse(body.toString('utf8')) as unknown,
      }
    }
  } finally {
    done()
  }
}
