// The two XRPC services a move in talks to, as a client would: the old PDS (an address from a
// DID document, so through the SSRF-guarded, time-bounded fetch) and this PDS, over loopback to
// its own listening port, so that every step here goes through the XRPC method with its checks,
// limits and events (a page is not a side door). Each side keeps its session tokens in memory and
// refreshes them once when the access token has expired. Tokens never go into an error message.
import * as http from 'node:http'
import type { Readable } from 'node:stream'
import { safeFetch, safeRequest } from '../identity/safe-fetch.ts'

export class MoveInCallError extends Error {
  override name = 'MoveInCallError'
  constructor(
    readonly side: 'old' | 'here',
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message)
  }
}

export interface Session {
  accessJwt: string
  refreshJwt: string
}

export interface CallOptions {
  params?: Record<string, string | number | undefined>
  json?: unknown
  /** A raw body (importRepo, uploadBlob), with its content type. */
  body?: Readable | Uint8Array
  encoding?: string
  /** Bearer token to use instead of the session's (service auth for createAccount). */
  bearer?: string | null
  timeoutMs?: number
}

const JSON_TIMEOUT_MS = 30_000

function errorOf(side: 'old' | 'here', status: number, text: string): MoveInCallError {
  let error = 'UpstreamFailure'
  let message = `HTTP ${status}`
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown }
    if (typeof body.error === 'string') error = body.error
    if (typeof body.message === 'string') message = body.message
    else if (typeof body.error === 'string') message = body.error
  } catch {
    // Not JSON: the status says enough.
  }
  return new MoveInCallError(side, status, error, message.slice(0, 300))
}

function query(params?: CallOptions['params']): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined) q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** One side of the move: its base URL and, once signed in, its session. */
abstract class Side {
  session: Session | null = null

  constructor(
    readonly side: 'old' | 'here',
    readonly url: string,
  ) {}

  protected abstract send(method: 'GET' | 'POST', nsid: string, o: CallOptions, bearer: string | null): Promise<{ status: number; text: string }>
  abstract stream(nsid: string, o: CallOptions): Promise<{ body: Readable; contentType: string | undefined; contentLength: number | undefined }>

  async call(method: 'GET' | 'POST', nsid: string, o: CallOptions = {}): Promise<any> {
    const bearer = o.bearer !== undefined ? o.bearer : (this.session?.accessJwt ?? null)
    let res = await this.send(method, nsid, o, bearer)
    // A stream body cannot be sent twice: callers with one refresh first (fresh()).
    if (res.status === 400 && o.bearer === undefined && this.session && !(o.body && 'pipe' in o.body) && /ExpiredToken/.test(res.text)) {
      await this.refresh()
      res = await this.send(method, nsid, o, this.session.accessJwt)
    }
    if (res.status < 200 || res.status >= 300) throw errorOf(this.side, res.status, res.text)
    return res.text ? (JSON.parse(res.text) as unknown) : undefined
  }

  async signIn(identifier: string, password: string, authFactorToken?: string): Promise<{ did: string }> {
    const out = (await this.call('POST', 'com.atproto.server.createSession', {
      json: { identifier, password, ...(authFactorToken ? { authFactorToken } : {}) },
      bearer: null,
    })) as Session & { did: string }
    this.session = { accessJwt: out.accessJwt, refreshJwt: out.refreshJwt }
    return { did: out.did }
  }

  /** Whether the session is an app password's (the scope its server put in the access token). */
  isAppPassword(): boolean {
    const payload = this.session?.accessJwt.split('.')[1]
    if (!payload) return false
    try {
      const scope = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { scope?: unknown }).scope
      return typeof scope === 'string' && scope.startsWith('com.atproto.appPass')
    } catch {
      return false
    }
  }

  async refresh(): Promise<void> {
    if (!this.session) throw new MoveInCallError(this.side, 401, 'AuthRequired', 'Not signed in')
    const out = (await this.call('POST', 'com.atproto.server.refreshSession', { bearer: this.session.refreshJwt })) as Session
    this.session = { accessJwt: out.accessJwt, refreshJwt: out.refreshJwt }
  }

  /** Refreshes the session before a call that cannot be retried (a streamed body). */
  async fresh(): Promise<void> {
    try {
      await this.call('GET', 'com.atproto.server.getSession')
    } catch (err) {
      if (!(err instanceof MoveInCallError) || err.error !== 'ExpiredToken') throw err
      await this.refresh()
    }
  }

  forget(): void {
    this.session = null
  }

  /** Ends the session on the server too (best effort: it expires by itself anyway). */
  async signOut(): Promise<void> {
    const session = this.session
    this.session = null
    if (!session) return
    await this.call('POST', 'com.atproto.server.deleteSession', { bearer: session.refreshJwt }).catch(() => {})
  }
}

/** The old PDS, through the SSRF guard. */
export class OldPds extends Side {
  constructor(
    url: string,
    readonly allowPrivate: boolean,
  ) {
    super('old', url)
  }

  protected async send(method: 'GET' | 'POST', nsid: string, o: CallOptions, bearer: string | null): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {}
    if (bearer) headers.authorization = `Bearer ${bearer}`
    let body: string | Uint8Array | undefined
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(o.json)
    }
    const res = await safeFetch(`${this.url}/xrpc/${nsid}${query(o.params)}`, {
      method,
      headers,
      body,
      allowPrivate: this.allowPrivate,
      timeoutMs: o.timeoutMs ?? JSON_TIMEOUT_MS,
      maxBytes: 4 * 1024 * 1024,
    })
    return { status: res.status, text: res.text() }
  }

  async stream(nsid: string, o: CallOptions): Promise<{ body: Readable; contentType: string | undefined; contentLength: number | undefined }> {
    await this.fresh()
    const headers: Record<string, string> = {}
    if (this.session) headers.authorization = `Bearer ${this.session.accessJwt}`
    const res = await safeRequest(`${this.url}/xrpc/${nsid}${query(o.params)}`, {
      headers,
      allowPrivate: this.allowPrivate,
      timeoutMs: o.timeoutMs ?? 10 * 60_000,
    })
    if (res.status !== 200) {
      const chunks: Buffer[] = []
      let size = 0
      for await (const c of res.body as AsyncIterable<Buffer>) {
        size += c.length
        if (size < 64 * 1024) chunks.push(c)
      }
      throw errorOf('old', res.status, Buffer.concat(chunks).toString('utf8'))
    }
    const len = Number(res.headers['content-length'])
    return { body: res.body, contentType: res.headers['content-type'], contentLength: Number.isFinite(len) ? len : undefined }
  }
}

/**
 * This PDS, over loopback. `clientIp` goes as X-Forwarded-For (loopback is a trusted proxy), so
 * rate limits count the person moving in, not the server itself.
 */
export class ThisPds extends Side {
  constructor(
    url: string,
    readonly clientIp: string,
  ) {
    super('here', url)
  }

  protected send(method: 'GET' | 'POST', nsid: string, o: CallOptions, bearer: string | null): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.clientIp }
    if (bearer) headers.authorization = `Bearer ${bearer}`
    let body: Readable | Uint8Array | string | undefined = o.body
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(o.json)
    } else if (o.body) {
      headers['content-type'] = o.encoding ?? 'application/octet-stream'
    }
    const url = new URL(`${this.url}/xrpc/${nsid}${query(o.params)}`)
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, timeout: o.timeoutMs ?? JSON_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
        res.once('error', reject)
      })
      req.once('timeout', () => req.destroy(new Error(`${nsid} timed out`)))
      req.once('error', reject)
      if (body && typeof body !== 'string' && 'pipe' in body) {
        body.once('error', (err) => req.destroy(err))
        body.pipe(req)
      } else {
        req.end(body)
      }
    })
  }

  stream(): never {
    throw new Error('not used')
  }
}
