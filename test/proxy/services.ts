// Small XRPC services on loopback standing in for the AppView, the chat and the moderation
// service in proxy tests and the bench. Each one checks every incoming service-auth JWT for
// real, independently of Hearth's code: @atproto/xrpc-server's verifyJwt, with the issuer's
// signing key resolved by @atproto/identity through the test's PLC directory (aud must be the
// service's DID, lxm the called method, exp in the future). It answers canned data.
//
// Its DID is did:web:localhost%3A<port>; its document (served at /.well-known/did.json) lists
// the services given, all at its own URL unless an endpoint is given.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { IdResolver } from '@atproto/identity'
import { verifyJwt } from '@atproto/xrpc-server'

export interface ReceivedCall {
  nsid: string
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
  /** The verified token's claims, or null when it was refused. */
  jwt: { iss: string; aud: string; lxm?: string; exp: number } | null
  /** Why the token was refused. */
  refused?: string
  /** The caller closed the connection before this service answered. */
  aborted?: boolean
}

export interface CannedResponse {
  status?: number
  body?: unknown
  headers?: Record<string, string>
  /** Never answer (for timeouts). */
  hang?: boolean
}

export type CannedHandler = (call: ReceivedCall, query: URLSearchParams) => CannedResponse | undefined

export interface TestService {
  did: string
  url: string
  port: number
  calls: ReceivedCall[]
  /** Where DIDs are resolved (set once the test PLC is known). */
  setPlcUrl(url: string): void
  /** Replaces the canned answers. */
  setHandler(handler: CannedHandler): void
  /** Verifies a token as an incoming call would (for the forged/expired/wrong-aud checks). */
  verify(token: string, nsid: string): Promise<{ ok: true } | { ok: false; error: string }>
  close(): Promise<void>
}

export interface TestServiceOptions {
  /** Service entries of the DID document: id (without '#'), type, and optional endpoint. */
  services: Array<{ id: string; type: string; endpoint?: string }>
  handler?: CannedHandler
  /** Methods answered without a token (as the AppView's public getRecord). */
  publicMethods?: string[]
  /**
   * The audience and method a call's token must carry, when not this service and the called
   * method (getFeed: a token for the feed generator, which the AppView passes on).
   */
  expectToken?: (nsid: string) => { aud: string; lxm: string } | undefined
  /** Skip token verification (the bench's AppView measures the proxy, not verifyJwt). */
  verifyTokens?: boolean
  plcUrl?: string
  /**
   * Its DID when it is only reached as a configured service, never resolved (OAuth rpc scopes
   * cannot name a `did:web` with an encoded port: the scope parser decodes the `%3A`).
   */
  did?: string
}

export async function startTestService(opts: TestServiceOptions): Promise<TestService> {
  let handler: CannedHandler = opts.handler ?? (() => ({ body: {} }))
  let resolver = opts.plcUrl ? new IdResolver({ plcUrl: opts.plcUrl }) : null
  const calls: ReceivedCall[] = []
  const sockets = new Set<import('node:net').Socket>()
  let did = ''
  let url = ''

  const verify = async (token: string, nsid: string): Promise<{ ok: true; claims: ReceivedCall['jwt'] } | { ok: false; error: string }> => {
    if (!resolver) return { ok: false, error: 'no PLC directory' }
    const r = resolver
    const expected = opts.expectToken?.(nsid) ?? { aud: did, lxm: nsid }
    // As the real services: the audience is the DID, or the DID with one of its service ids
    // (what the official PDS mints when it proxies getPreferences to an atproto-proxy service).
    const claimed = claimedAud(token)
    const audOk = claimed === expected.aud || (claimed !== undefined && opts.services.some((svc) => claimed === `${expected.aud}#${svc.id}`))
    try {
      const claims = await verifyJwt(token, audOk ? (claimed as string) : expected.aud, expected.lxm, async (iss, forceRefresh) => r.did.resolveAtprotoKey(iss.split('#')[0], forceRefresh))
      return { ok: true, claims: { iss: claims.iss, aud: claims.aud, lxm: claims.lxm, exp: claims.exp } }
    } catch (err) {
      return { ok: false, error: (err as { error?: string }).error ?? (err as Error).message }
    }
  }

  const server = http.createServer((req, res) => {
    void serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end()
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x')
    if (u.pathname === '/.well-known/did.json') {
      const doc = {
        '@context': ['https://www.w3.org/ns/did/v1'],
        id: did,
        service: opts.services.map((s) => ({ id: `#${s.id}`, type: s.type, serviceEndpoint: s.endpoint ?? url })),
      }
      return json(res, 200, doc)
    }
    if (!u.pathname.startsWith('/xrpc/')) return json(res, 404, { error: 'NotFound' })
    const nsid = u.pathname.slice('/xrpc/'.length)
    const chunks: Buffer[] = []
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
    const call: ReceivedCall = { nsid, method: req.method ?? 'GET', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), jwt: null }
    calls.push(call)
    res.on('close', () => {
      if (!res.writableFinished) call.aborted = true
    })
    if (opts.verifyTokens !== false && !opts.publicMethods?.includes(nsid)) {
      const auth = req.headers.authorization ?? ''
      if (!auth.startsWith('Bearer ')) {
        call.refused = 'MissingJwt'
        return json(res, 401, { error: 'AuthenticationRequired', message: 'jwt required' })
      }
      const verified = await verify(auth.slice('Bearer '.length), nsid)
      if (!verified.ok) {
        call.refused = verified.error
        return json(res, 401, { error: verified.error, message: 'jwt refused' })
      }
      call.jwt = verified.claims
    }
    const canned = handler(call, u.searchParams)
    if (canned?.hang) return // left open until the client gives up or the server closes
    const out = canned ?? { status: 404, body: { error: 'MethodNotImplemented', message: 'no canned answer' } }
    return json(res, out.status ?? 200, out.body ?? {}, out.headers)
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  did = opts.did ?? `did:web:localhost%3A${port}`
  url = `http://127.0.0.1:${port}`
  return {
    did,
    url,
    port,
    calls,
    setPlcUrl(plcUrl) {
      resolver = new IdResolver({ plcUrl })
    },
    setHandler(h) {
      handler = h
    },
    async verify(token, nsid) {
      const r = await verify(token, nsid)
      return r.ok ? { ok: true } : r
    },
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function claimedAud(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: unknown }
    return typeof payload.aud === 'string' ? payload.aud : undefined
  } catch {
    return undefined
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}
