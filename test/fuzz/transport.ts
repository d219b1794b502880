// Sending a fuzzed request: plain HTTP (a fresh connection each, so one broken exchange cannot
// spoil the next), an upload whose socket is destroyed mid-body, bytes on a bare TCP socket,
// and a WebSocket upgrade. Every send ends by itself (timeouts) and never throws.
import { request } from 'node:http'
import { connect } from 'node:net'
import WebSocket from 'ws'
import type { FuzzRequest } from './requests.ts'
import { ADMIN_AUTH, type Credentials, RATE_LIMIT_BYPASS } from './world.ts'

export interface Outcome {
  /** HTTP status; 0 when no response came (the kind of request may expect that). */
  status: number
  /** The start of the response body (for the report). */
  body: string
  /** What happened instead of a response, if anything. */
  error?: string
  started: number
  ended: number
}

const TIMEOUT_MS = 20_000
const KEEP_BODY = 2000

export function authHeader(req: FuzzRequest, accounts: Credentials[]): string | undefined {
  const a = accounts[req.account % accounts.length]
  switch (req.auth) {
    case 'none':
      return undefined
    case 'access':
      return `Bearer ${a.access}`
    case 'appPass':
      return `Bearer ${a.appAccess}`
    case 'refresh':
      return `Bearer ${a.refresh}`
    case 'admin':
      return ADMIN_AUTH
    case 'adminWrong':
      return `Basic ${Buffer.from('admin:wrong-password').toString('base64')}`
    case 'garbage':
      return 'Bearer not.a.jwt'
  }
}

function headersFor(req: FuzzRequest, accounts: Credentials[]): Record<string, string> {
  const headers: Record<string, string> = { ...req.headers }
  const auth = authHeader(req, accounts)
  if (auth !== undefined) headers.authorization = auth
  if (req.bypass) headers['x-ratelimit-bypass'] = RATE_LIMIT_BYPASS
  if (req.body !== undefined) {
    if (req.chunked) headers['transfer-encoding'] = 'chunked'
    else headers['content-length'] = String(req.body.length)
  }
  return headers
}

export function send(url: string, req: FuzzRequest, accounts: Credentials[]): Promise<Outcome> {
  switch (req.kind) {
    case 'http':
    case 'abort':
      return sendHttp(url, req, accounts)
    case 'raw':
      return sendRaw(url, req)
    case 'ws':
      return sendWs(url, req, accounts)
  }
}

function sendHttp(url: string, req: FuzzRequest, accounts: Credentials[]): Promise<Outcome> {
  const started = Date.now()
  return new Promise((resolve) => {
    let settled = false
    let body = ''
    let status = 0
    const finish = (error?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ status, body, error, started, ended: Date.now() })
    }
    let client: ReturnType<typeof request>
    try {
      client = request(`${url}${req.path}`, { method: req.method, headers: headersFor(req, accounts), agent: false }, (res) => {
        status = res.statusCode ?? 0
        res.on('data', (c: Buffer) => {
          if (body.length < KEEP_BODY) body += c.toString('latin1').slice(0, KEEP_BODY - body.length)
        })
        res.on('end', () => finish())
        res.on('error', (err) => finish(err.message))
        res.on('close', () => finish())
      })
    } catch (err) {
      // A header value node refuses to send: nothing reached the server.
      resolve({ status: -1, body: '', error: (err as Error).message, started, ended: Date.now() })
      return
    }
    const timer = setTimeout(() => {
      client.destroy()
      finish('timeout')
    }, TIMEOUT_MS)
    client.on('error', (err) => finish((err as NodeJS.ErrnoException).code ?? err.message))
    if (req.kind === 'abort') {
      const part = (req.body ?? Buffer.alloc(0)).subarray(0, req.abortAfter ?? 0)
      client.flushHeaders()
      if (part.length > 0) client.write(part)
      setTimeout(() => {
        client.destroy()
        // A response may already be on its way (an early refusal); give it a moment.
        setTimeout(() => finish('aborted'), 20)
      }, req.abortDelayMs ?? 0)
      return
    }
    if (req.body !== undefined) client.end(req.body)
    else client.end()
  })
}

function sendRaw(url: string, req: FuzzRequest): Promise<Outcome> {
  const started = Date.now()
  const { port, hostname } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    let data = ''
    socket.setTimeout(3_000, () => socket.destroy())
    socket.on('data', (c: Buffer) => {
      if (data.length < KEEP_BODY) data += c.toString('latin1')
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0)
      resolve({ status, body: data.slice(0, KEEP_BODY), started, ended: Date.now() })
    })
    socket.end(req.raw ?? Buffer.alloc(0))
  })
}

function sendWs(url: string, req: FuzzRequest, accounts: Credentials[]): Promise<Outcome> {
  const started = Date.now()
  return new Promise((resolve) => {
    let status = 0
    let body = ''
    let settled = false
    const headers: Record<string, string> = {}
    const auth = authHeader(req, accounts)
    if (auth) headers.authorization = auth
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${req.path}`, { headers, handshakeTimeout: 5_000 })
    const finish = (error?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      try {
        ws.terminate()
      } catch {
        // already gone
      }
      resolve({ status, body, error, started, ended: Date.now() })
    }
    const timer = setTimeout(() => finish(), 800)
    ws.on('upgrade', (res) => {
      status = res.statusCode ?? 101
    })
    ws.on('unexpected-response', (_r, res) => {
      status = res.statusCode ?? 0
      res.resume()
      finish()
    })
    ws.on('message', (data: WebSocket.RawData) => {
      body += `[${Buffer.isBuffer(data) ? data.length : '?'} B frame]`
    })
    ws.on('close', () => finish())
    ws.on('error', (err) => finish(err.message))
  })
}

/** GET /xrpc/_health: whether it answered 200 within `timeoutMs`. */
export async function healthy(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`${url}/xrpc/_health`, { signal: AbortSignal.timeout(timeoutMs) })
    await res.arrayBuffer()
    return res.status === 200
  } catch {
    return false
  }
}
