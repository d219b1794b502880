// The HTTP front door: a raw node:http server that routes `/xrpc/<nsid>` to registered methods
// and everything else to plain routes, with the observable behaviour of the official PDS's
// express + @atproto/xrpc-server stack (statuses, error names and messages, CORS, auth cache
// headers, rate-limit headers, keep-alive timeout).
//
// Per XRPC call, in the official order: NSID from the path (400 "invalid xrpc path"), HTTP verb
// (400 "Incorrect HTTP method"), params parsed and validated, auth verifier, body (presence,
// content type, size limit, JSON parse and lexicon validation, or a limited stream for binary
// inputs), rate limits, handler, output (validated when `validateResponses`), response.
//
// node:http rather than a framework: one layer between the socket and the handler, request and
// response bodies stream with backpressure as they are, and there is no middleware chain to
// walk on every call.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable, type Duplex } from 'node:stream'
import type { AuthResult } from './auth-result.ts'
import type { ServerConfig } from '../config/index.ts'
import { subsystemLogger, type Logger } from '../logger.ts'
import { observeRequest } from '../metrics/index.ts'
import { inRequestScope } from './backstop.ts'
import { closeServer } from './shutdown.ts'
import { bodyPresence, type ByteLimit, limitedBodyStream, readJsonBody, RequestAbortedError, requestEncoding } from './body.ts'
import { YoungCollection } from './young-collection.ts'
import { ClientIpResolver, IpSet } from './client-ip.ts'
import { answerPreflight, appendVary, setCorsHeaders } from './cors.ts'
import { XrpcError, invalidRequest, methodNotImplemented } from '../errors.ts'
import {
  assertValidXrpcInput,
  assertValidXrpcOutput,
  assertValidXrpcParams,
  encodingMatches,
  getMethodDef,
  type MethodDef,
  parseQueryParams,
} from '../lexicons.ts'
import { MemoryRateLimiter, RateLimitExceededError, setRateLimitHeaders, tightest, type RateLimitStatus } from './rate-limiter.ts'
import type { RateLimit, XrpcContext, XrpcMethod, XrpcOutput, XrpcRequestInfo } from './types.ts'

export const DEFAULT_JSON_LIMIT = 150 * 1024
export const DEFAULT_BLOB_LIMIT = 5 * 1024 * 1024
export const KEEP_ALIVE_TIMEOUT_MS = 90_000
/** The official global limit: 3000 calls per 5 minutes per IP, on every XRPC call. */
export const GLOBAL_RATE_LIMIT = { name: 'global-ip', durationMs: 5 * 60_000, points: 3000 } as const
// Before an early answer (an error, or a handler that left its body unread), what the client is
// still sending is read and dropped, up to this many bytes and this long; past either, the answer
// closes the connection. Closing while the client still writes resets it: the client (or a
// reverse proxy in front, which then answers 502) never reads the answer.
const DRAIN_LIMIT = 32 * 1024 * 1024
const DRAIN_TIMEOUT_MS = 10_000

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'

export interface RouteContext {
  req: IncomingMessage
  res: ServerResponse
  /** The path, without the query string (not percent-decoded). */
  path: string
  searchParams: URLSearchParams
  ip: string
  /** How long a streamed response may wait for its client to take more before it is cut off. */
  stallMs: number
}

/** A plain (non-XRPC) route. A thrown XrpcError becomes its JSON error; anything else a 500. */
export type RouteHandler = (ctx: RouteContext) => void | Promise<void>

export interface RouteOptions {
  /**
   * Send the CORS headers and answer OPTIONS preflights for this route (true). False leaves
   * both to the handler (the official mounts its OAuth routes before CORS).
   */
  cors?: boolean
  /** The metrics label of a match route (`addMatchRoute`); exact and prefix routes use their path. */
  label?: string
}

export interface FallbackContext extends XrpcRequestInfo {
  res: ServerResponse
  searchParams: URLSearchParams
}

/**
 * Serves `/xrpc/<nsid>` calls that no registered method takes (the proxy). It writes the
 * response itself; the request body is untouched. A thrown XrpcError becomes the error response.
 */
export type XrpcFallback = (ctx: FallbackContext) => void | Promise<void>

/** Takes over an HTTP upgrade (WebSocket) on `/xrpc/<nsid>`. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, info: { nsid: string; ip: string }) => void

export interface RateLimitOptions {
  /** Off by default, as PDS_RATE_LIMITS_ENABLED; when off, per-method limits are ignored too. */
  enabled: boolean
  /** The `x-ratelimit-bypass` header value that skips every limit. */
  bypassKey?: string | null
  /** Addresses / CIDR ranges that skip every limit (and are trusted as proxies). */
  bypassIps?: string[]
  /** Limits applied by IP to every XRPC call (default: GLOBAL_RATE_LIMIT). */
  global?: Array<{ name: string; durationMs: number; points: number }>
}

export interface XrpcServerOptions {
  /** Validate every output against its lexicon (tests, dev mode); a mismatch is a 500. */
  validateResponses?: boolean
  /** Default max JSON body, bytes (150 KiB). */
  jsonLimit?: number
  /** Default max binary body, bytes (PDS_BLOB_UPLOAD_LIMIT, 5 MiB). */
  blobLimit?: number
  rateLimits?: RateLimitOptions
  /** More proxies whose X-Forwarded-For is believed (loopback and private ranges always are). */
  trustedProxies?: string[]
  logger?: Logger
  /** Keep-alive timeout (90 s, as the official PDS). */
  keepAliveTimeoutMs?: number
  /** How long a streamed response (getRepo, getBlob) may wait for its client to take more (60 s). */
  streamStallMs?: number
}

/**
 * A streamed response whose client takes nothing more for this long is closed. Without it a
 * client that stops reading holds the stream's source for as long as it keeps the connection:
 * for getRepo, a public method, that is a read snapshot of the account's store, and while it is
 * held no checkpoint can go past it, so the account's WAL grows with every write.
 */
const STREAM_STALL_MS = 60_000

/** What is still to run of a request's handling: a promise, or null when it was answered synchronously. */
type Pending = Promise<unknown> | null

interface LimitSpec {
  limiter: MemoryRateLimiter
  key?: (ctx: XrpcContext) => string | null
  cost?: (ctx: XrpcContext) => number
}

interface Registered {
  method: XrpcMethod<AuthResult>
  def: MethodDef
  limits: LimitSpec[]
}

interface Route {
  handler: RouteHandler
  cors: boolean
  /** The metrics label: the exact path, `<prefix>/*`, or a match route's label. */
  label: string
}

export class XrpcServer {
  readonly httpServer: http.Server
  readonly logger: Logger
  private readonly streamStallMs: number
  private readonly methods = new Map<string, Registered>()
  private readonly exactRoutes = new Map<string, Map<string, Route>>() // path → verb → route
  private readonly prefixRoutes: Array<{ prefix: string; verbs: Map<string, Route> }> = []
  private readonly matchRoutes: Array<{ match: (path: string) => boolean; verbs: Map<string, Route> }> = []
  private readonly subscriptions = new Map<string, UpgradeHandler>()
  private readonly upgradedSockets = new Set<Duplex>()
  private readonly limiters = new Map<string, MemoryRateLimiter>()
  private readonly globalLimits: LimitSpec[] = []
  private readonly rateLimitsEnabled: boolean
  private readonly bypassKey: string | null
  private readonly bypassIps: IpSet
  private readonly ips: ClientIpResolver
  private readonly validateResponses: boolean
  private readonly jsonLimit: number
  private readonly blobLimit: number
  /** Young collections after streamed bodies (see young-collection.ts). */
  private readonly youngCollection = new YoungCollection()
  /** A streamed answer's chunks are buffers outside V8's heap, as a streamed body's are. */
  private readonly noteStreamedBytes = (bytes: number): void => this.youngCollection.noteBody(bytes)
  private fallback: XrpcFallback = () => {
    throw methodNotImplemented()
  }
  private closing = false

  constructor(opts: XrpcServerOptions = {}) {
    this.logger = opts.logger ?? subsystemLogger('hearth:xrpc')
    this.validateResponses = opts.validateResponses ?? false
    this.jsonLimit = opts.jsonLimit ?? DEFAULT_JSON_LIMIT
    this.blobLimit = opts.blobLimit ?? DEFAULT_BLOB_LIMIT
    const rl = opts.rateLimits ?? { enabled: false }
    this.rateLimitsEnabled = rl.enabled
    this.bypassKey = rl.bypassKey ?? null
    const bypassIps = rl.enabled ? (rl.bypassIps ?? []) : []
    this.bypassIps = new IpSet(bypassIps)
    this.ips = new ClientIpResolver([...(opts.trustedProxies ?? []), ...bypassIps])
    if (rl.enabled) {
      for (const g of rl.global ?? [GLOBAL_RATE_LIMIT]) this.globalLimits.push({ limiter: this.limiterFor(g) })
    }

    this.httpServer = http.createServer((req, res) => this.handle(req, res))
    this.httpServer.keepAliveTimeout = opts.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS
    this.streamStallMs = opts.streamStallMs ?? STREAM_STALL_MS
    this.httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      inRequestScope(req.method ?? 'GET', pathOf(req), () => this.handleUpgrade(req, socket, head)),
    )
  }

  // -------------------------------------------------------------------------------------------
  // Registration

  /** Serves an XRPC query or procedure. Throws if its lexicon is unknown or it is registered twice. */
  register<A extends AuthResult>(method: XrpcMethod<A>): void {
    const def = getMethodDef(method.nsid)
    if (def === null || def.type === 'subscription') {
      throw new Error(`cannot register ${method.nsid}: no query or procedure lexicon defines it`)
    }
    if (this.methods.has(method.nsid)) throw new Error(`${method.nsid} is already registered`)
    const limits: LimitSpec[] = (method.rateLimits ?? []).map((limit: RateLimit) => ({
      limiter: this.limiterFor(limit),
      key: limit.key,
      cost: limit.cost,
    }))
    this.methods.set(method.nsid, { method: method as unknown as XrpcMethod<AuthResult>, def, limits })
  }

  /** Whether an NSID has a registered method. */
  has(nsid: string): boolean {
    return this.methods.has(nsid)
  }

  /**
   * A plain route: `path` is exact (`/robots.txt`), or a prefix when it ends in `/*`
   * (`/account/*` takes `/account` and everything below). HEAD is served by GET routes.
   * Routes are looked up before XRPC, so `/xrpc/_health` can be one.
   */
  addRoute(methods: HttpMethod | HttpMethod[], path: string, handler: RouteHandler, opts: RouteOptions = {}): void {
    const route: Route = { handler, cors: opts.cors ?? true, label: path }
    let verbs: Map<string, Route>
    if (path.endsWith('/*')) {
      const prefix = path.slice(0, -2)
      let entry = this.prefixRoutes.find((p) => p.prefix === prefix)
      if (!entry) {
        entry = { prefix, verbs: new Map() }
        this.prefixRoutes.push(entry)
        // Longest prefix first.
        this.prefixRoutes.sort((a, b) => b.prefix.length - a.prefix.length)
      }
      verbs = entry.verbs
    } else {
      verbs = this.exactRoutes.get(path) ?? new Map()
      this.exactRoutes.set(path, verbs)
    }
    for (const verb of Array.isArray(methods) ? methods : [methods]) {
      if (verbs.has(verb)) throw new Error(`route ${verb} ${path} is already registered`)
      verbs.set(verb, route)
    }
  }

  /**
   * A route for the paths `match` accepts, looked up after the exact and prefix routes (e.g.
   * `/did:plc:…` at the root, where standard clients look for a PLC directory).
   */
  addMatchRoute(methods: HttpMethod | HttpMethod[], match: (path: string) => boolean, handler: RouteHandler, opts: RouteOptions = {}): void {
    const route: Route = { handler, cors: opts.cors ?? true, label: opts.label ?? '(matched)' }
    const verbs = new Map<string, Route>()
    for (const verb of Array.isArray(methods) ? methods : [methods]) verbs.set(verb, route)
    this.matchRoutes.push({ match, verbs })
  }

  /** What answers `/xrpc/<nsid>` calls no registered method takes (default: 501 MethodNotImplemented). */
  setFallback(fallback: XrpcFallback): void {
    this.fallback = fallback
  }

  /** Hands WebSocket upgrades on `/xrpc/<nsid>` to `handler`; other upgrades are refused. */
  addSubscription(nsid: string, handler: UpgradeHandler): void {
    if (this.subscriptions.has(nsid)) throw new Error(`subscription ${nsid} is already registered`)
    this.subscriptions.set(nsid, handler)
  }

  private limiterFor(limit: { name: string; durationMs: number; points: number }): MemoryRateLimiter {
    const existing = this.limiters.get(limit.name)
    if (existing) {
      if (existing.durationMs !== limit.durationMs || existing.points !== limit.points) {
        throw new Error(`rate limit ${limit.name} is declared twice with different windows or points`)
      }
      return existing
    }
    const limiter = new MemoryRateLimiter(limit.name, limit.durationMs, limit.points)
    this.limiters.set(limit.name, limiter)
    return limiter
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Listens on `port` (0 for any) and resolves with the bound address. */
  listen(port: number, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err)
      this.httpServer.once('error', onError)
      this.httpServer.listen(port, host, () => {
        this.httpServer.off('error', onError)
        resolve(this.httpServer.address() as AddressInfo)
      })
    })
  }

  /** How many young collections streamed bodies have started (young-collection.ts). */
  get youngCollectionCount(): number {
    return this.youngCollection.collectionCount
  }

  /** How many times a pause after streamed bodies has handed freed memory back (young-collection.ts). */
  get memoryReturnCount(): number {
    return this.youngCollection.returnCount
  }

  /** Stops accepting, lets in-flight requests finish, force-closes after `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closing = true
    this.youngCollection.stop()
    await closeServer(this.httpServer, timeoutMs, this.upgradedSockets)
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /** The request listener (also usable on another http.Server). Never throws, never rejects. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now()
    // Late socket errors (client resets) must not become unhandled 'error' events.
    req.on('error', noop)
    res.on('error', noop)
    // `on`, not `once`: a response closes once, and the wrapper `once` adds is one more object.
    res.on('close', () => this.finished(req, res, started))
    if (this.closing) res.setHeader('Connection', 'close')
    // Tagged, so that a bug no code catches is reported with the request it came from.
    inRequestScope(req.method ?? 'GET', pathOf(req), () => {
      try {
        const pending = this.dispatch(req, res)
        if (pending !== null) pending.catch((err) => this.sendError(req, res, err, null))
      } catch (err) {
        void this.sendError(req, res, err, null)
      }
    })
  }

  /** Serves a request; a promise when what serves it is asynchronous, else null (already answered). */
  private dispatch(req: IncomingMessage, res: ServerResponse): Pending {
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q)
    const query = q === -1 ? '' : rawUrl.slice(q + 1)
    const verb = (req.method ?? 'GET').toUpperCase()
    const route = this.findRoute(verb, path)
    if (!route || route.cors) {
      if (verb === 'OPTIONS') {
        answerPreflight(req, res)
        return null
      }
      setCorsHeaders(res)
    }
    const ip = this.ips.resolve(req)
    if (route) return this.runRoute(route, req, res, path, query, ip)
    if (path.startsWith('/xrpc/')) {
      let nsid: string | null = null
      try {
        nsid = extractXrpcNsid(path)
        if (nsid === null) throw invalidRequest('invalid xrpc path')
        const pending = this.handleXrpc(req, res, nsid, verb, query, ip)
        if (pending === null) return null
        const method = nsid
        return pending.catch((err) => this.sendError(req, res, err, method))
      } catch (err) {
        return this.sendError(req, res, err, nsid)
      }
    }
    return this.notFound(req, res, verb, path)
  }

  private async runRoute(route: Route, req: IncomingMessage, res: ServerResponse, path: string, query: string, ip: string): Promise<void> {
    try {
      await route.handler({ req, res, path, searchParams: new URLSearchParams(query), ip, stallMs: this.streamStallMs })
    } catch (err) {
      await this.sendError(req, res, err, null)
    }
  }

  private async notFound(req: IncomingMessage, res: ServerResponse, verb: string, path: string): Promise<void> {
    await settleUnreadBody(req, res)
    sendNotFound(req, res, verb, path)
  }

  private findRoute(verb: string, path: string): Route | null {
    const key = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
    const exact = this.exactRoutes.get(key)
    if (exact) {
      const found = routeForVerb(exact, verb)
      if (found) return found
    }
    for (const { prefix, verbs } of this.prefixRoutes) {
      if (key === prefix || key.startsWith(prefix + '/')) {
        const found = routeForVerb(verbs, verb)
        if (found) return found
      }
    }
    for (const { match, verbs } of this.matchRoutes) {
      if (match(key)) {
        const found = routeForVerb(verbs, verb)
        if (found) return found
      }
    }
    return null
  }

  private handleXrpc(req: IncomingMessage, res: ServerResponse, nsid: string, verb: string, query: string, ip: string): Pending {
    const registered = this.methods.get(nsid)
    if (registered) {
      const expected = registered.def.httpMethod
      if (verb === expected || (verb === 'HEAD' && expected === 'GET')) {
        return this.runMethod(registered, req, res, nsid, query, ip)
      }
    }
    return this.handleUnregistered(req, res, nsid, verb, query, ip)
  }

  private async handleUnregistered(req: IncomingMessage, res: ServerResponse, nsid: string, verb: string, query: string, ip: string): Promise<void> {
    // Unregistered (or wrong verb): the official "catchall" path.
    const searchParams = new URLSearchParams(query)
    this.applyRateLimits(req, res, ip, [], null)
    const def = getMethodDef(nsid)
    // HEAD is never "incorrect": the official's catch-all (the proxy) takes every HEAD that no
    // GET route served, whatever the lexicon says.
    if (def && def.type !== 'subscription' && def.httpMethod !== verb && verb !== 'HEAD') {
      throw invalidRequest(`Incorrect HTTP method (${verb}) expected ${def.httpMethod}`)
    }
    await this.fallback({ nsid, req, res, ip, searchParams })
  }

  /**
   * Params, auth, body, handler, output. A call whose verifier and handler answer synchronously
   * and that has no body (most reads) runs through without a promise or a microtask turn; it
   * returns a promise only when something on the way is asynchronous.
   */
  private runMethod(
    registered: Registered,
    req: IncomingMessage,
    res: ServerResponse,
    nsid: string,
    query: string,
    ip: string,
  ): Pending {
    // Without a query string there is nothing to parse (most procedures): only the defaults and
    // required parameters to check.
    const params = assertValidXrpcParams(nsid, query === '' ? {} : parseQueryParams(nsid, new URLSearchParams(query)))

    // As the official verifiers: a response that depends on credentials is private to them.
    if (req.headers.authorization !== undefined) setAuthCacheHeaders(res)
    const verified = registered.method.auth({ nsid, req, ip, params, res })
    if (isPromise(verified)) return verified.then((auth) => this.runVerified(registered, req, res, nsid, ip, params, auth))
    return this.runVerified(registered, req, res, nsid, ip, params, verified)
  }

  private runVerified(
    registered: Registered,
    req: IncomingMessage,
    res: ServerResponse,
    nsid: string,
    ip: string,
    params: Record<string, unknown>,
    auth: AuthResult,
  ): Pending {
    // Already set above when the request came with an Authorization header.
    if (auth.kind !== 'none' && req.headers.authorization === undefined) setAuthCacheHeaders(res)
    // A method that takes a body, or a request that sent one (refused there), goes the long way.
    if (registered.def.inputEncodings !== null || bodyPresence(req) === 'present') {
      return this.runWithBody(registered, req, res, nsid, ip, params, auth)
    }
    const ctx: XrpcContext<AuthResult> = { nsid, req, ip, params, input: undefined, body: null, encoding: null, auth, res }
    this.applyRateLimits(req, res, ip, registered.limits, ctx)
    const answered = registered.method.handler(ctx)
    if (isPromise(answered)) return answered.then((output) => this.answer(registered, req, res, nsid, output))
    return this.answer(registered, req, res, nsid, answered)
  }

  private async runWithBody(
    registered: Registered,
    req: IncomingMessage,
    res: ServerResponse,
    nsid: string,
    ip: string,
    params: Record<string, unknown>,
    auth: AuthResult,
  ): Promise<void> {
    const { method, def } = registered
    let input: unknown
    let body: ByteLimit | null = null
    let encoding: string | null = null
    const presence = bodyPresence(req)
    if (def.inputEncodings === null) {
      if (presence === 'present') throw invalidRequest('A request body was provided when none was expected')
    } else {
      if (presence === 'missing') throw invalidRequest('A request body is expected but none was provided')
      encoding = requestEncoding(req)
      if (encoding === null) throw invalidRequest('Request encoding (Content-Type) required but not provided')
      if (!encodingMatches(def.inputEncodings, encoding)) {
        throw invalidRequest(`Wrong request encoding (Content-Type): ${encoding}`)
      }
      if (def.jsonInput) {
        const json = await readJsonBody(req, method.jsonLimit ?? this.jsonLimit)
        const hasSchema = def.type === 'procedure' && def.def.type === 'procedure' && def.def.input?.schema !== undefined
        input = hasSchema ? assertValidXrpcInput(nsid, json) : json
      } else {
        body = limitedBodyStream(req, method.blobLimit ?? this.blobLimit)
      }
    }

    const ctx: XrpcContext<AuthResult> = { nsid, req, ip, params, input, body, encoding, auth, res }
    let output: XrpcOutput
    try {
      this.applyRateLimits(req, res, ip, registered.limits, ctx)
      const answered = method.handler(ctx)
      output = isPromise(answered) ? await answered : answered
    } finally {
      // Whatever the handler left unread goes with its decoders (a refusal, a 429, a throw);
      // the rest of the request is drained before the response.
      body?.destroy()
    }
    if (body !== null) {
      onResponseClosed(res, output)
      this.checkAnswer(registered, nsid, output)
      await settleUnreadBody(req, res)
      this.youngCollection.noteBody(body.bytes)
      const streaming = this.writeOutput(req, res, output, nsid)
      if (streaming !== null) await streaming
      return
    }
    const streaming = this.answer(registered, req, res, nsid, output)
    if (streaming !== null) await streaming
  }

  /** The handler's output, checked (when responses are validated) and written. */
  private answer(registered: Registered, req: IncomingMessage, res: ServerResponse, nsid: string, output: XrpcOutput): Pending {
    onResponseClosed(res, output)
    this.checkAnswer(registered, nsid, output)
    return this.writeOutput(req, res, output, nsid)
  }

  private checkAnswer(registered: Registered, nsid: string, output: XrpcOutput): void {
    if (!this.validateResponses) return
    try {
      checkOutput(nsid, registered.def, output)
    } catch (err) {
      if (output && isStreamBody(output.body) && output.body instanceof Readable) output.body.destroy()
      throw err
    }
  }

  private applyRateLimits(req: IncomingMessage, res: ServerResponse, ip: string, own: LimitSpec[], ctx: XrpcContext | null): void {
    if (!this.rateLimitsEnabled) return
    if (this.bypassKey !== null && req.headers['x-ratelimit-bypass'] === this.bypassKey) return
    if (this.bypassIps.has(ip)) return
    const statuses: RateLimitStatus[] = []
    const now = Date.now()
    for (const spec of own) {
      // Method limits only run with a full context (registered methods).
      if (ctx === null) break
      const key = spec.key ? spec.key(ctx) : ip
      if (key === null) continue
      const cost = spec.cost ? spec.cost(ctx) : 1
      if (!(cost >= 1)) continue
      statuses.push(spec.limiter.consume(key, cost, now))
    }
    for (const spec of this.globalLimits) statuses.push(spec.limiter.consume(ip, 1, now))
    const status = tightest(statuses)
    if (status === null) return
    setRateLimitHeaders(res, status, now)
    if (status.exceeded) throw new RateLimitExceededError(status)
  }

  /** Writes the handler's output; a promise only when it streams. */
  private writeOutput(req: IncomingMessage, res: ServerResponse, output: XrpcOutput, nsid: string): Promise<void> | null {
    // The handler answered by itself through ctx.res.
    if (res.headersSent || res.writableEnded) return null
    res.statusCode = 200
    if (!output) {
      res.end()
      return null
    }
    if (output.headers) {
      for (const [name, value] of Object.entries(output.headers)) if (value != null) res.setHeader(name, value)
    }
    const isJson = output.encoding === 'application/json'
    res.setHeader('Content-Type', isJson ? 'application/json; charset=utf-8' : output.encoding)
    const body = output.body
    if (isStreamBody(body)) {
      return streamToResponse(body, req, res, this.logger, nsid, this.streamStallMs, this.noteStreamedBytes)
    } else if (body instanceof Uint8Array) {
      res.setHeader('Content-Length', body.byteLength)
      res.end(body)
    } else if (typeof body === 'string' && !isJson) {
      res.setHeader('Content-Length', Buffer.byteLength(body))
      res.end(body)
    } else {
      const text = JSON.stringify(body) ?? 'null'
      res.setHeader('Content-Length', Buffer.byteLength(text))
      res.end(text)
    }
    return null
  }

  /** Writes `{error, message}` for an XrpcError, a bare 500 for anything else. Never throws. */
  private async sendError(req: IncomingMessage, res: ServerResponse, err: unknown, nsid: string | null): Promise<void> {
    try {
      if (err instanceof RequestAbortedError || res.destroyed) {
        // The client is gone; there is no one to answer and nothing went wrong here.
        this.logger.debug({ nsid, err }, 'client went away')
        res.destroy()
        return
      }
      const where = nsid ? `xrpc method ${nsid}` : `${req.method} ${pathOf(req)}`
      if (isStackOverflow(err)) {
        // Input nested deeper than some recursive walk can go: the client's doing, but also a
        // depth check missing where the input came in, hence the warning.
        this.logger.warn({ nsid }, `stack overflow in ${where}, answered 400`)
        err = invalidRequest('Request is nested too deeply')
      }
      const xrpc = err instanceof XrpcError ? err : null
      const status = xrpc && xrpc.status >= 400 && xrpc.status < 600 ? xrpc.status : 500
      if (status >= 500 && !(xrpc && status !== 500)) {
        this.logger.error({ err, nsid, status }, `${xrpc ? 'error' : 'unhandled exception'} in ${where}`)
      } else if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug({ nsid, status, error: xrpc?.error, message: xrpc?.message }, `error in ${where}`)
      }
      if (res.headersSent || res.writableEnded) {
        // Mid-response: all that can be said is that the response is broken.
        res.destroy()
        return
      }
      const payload = {
        error: xrpc ? xrpc.error : 'InternalServerError',
        // 500s never carry details, as in the official router.
        message: status === 500 ? 'Internal Server Error' : xrpc?.message || xrpc?.error || 'Error',
      }
      if (xrpc?.headers) for (const [name, value] of Object.entries(xrpc.headers)) res.setHeader(name, value)
      await settleUnreadBody(req, res)
      if (res.headersSent || res.destroyed) return
      const text = JSON.stringify(payload)
      res.statusCode = status
      res.setHeader('Content-Type', 'application/json; charset=utf-8')
      res.setHeader('Content-Length', Buffer.byteLength(text))
      res.end(text)
    } catch (fatal) {
      this.logger.error({ err: fatal }, 'failed to write an error response')
      res.destroy()
    }
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', noop)
    try {
      const rawUrl = req.url ?? '/'
      const q = rawUrl.indexOf('?')
      const nsid = extractXrpcNsid(q === -1 ? rawUrl : rawUrl.slice(0, q))
      const handler = nsid === null ? undefined : this.subscriptions.get(nsid)
      if (!handler || nsid === null || this.closing) {
        socket.destroy()
        return
      }
      this.upgradedSockets.add(socket)
      socket.once('close', () => this.upgradedSockets.delete(socket))
      handler(req, socket, head, { nsid, ip: this.ips.resolve(req) })
    } catch (err) {
      this.logger.error({ err }, 'upgrade handler failed')
      socket.destroy()
    }
  }

  private nextRequestId = 1

  /** Every request once it ends: its duration to the metrics, and a log line when logging is on. */
  private finished(req: IncomingMessage, res: ServerResponse, started: number): void {
    const ms = performance.now() - started
    const verb = (req.method ?? 'GET').toUpperCase()
    const path = pathOf(req)
    observeRequest(verb, this.routeLabel(verb, path), res.statusCode, ms / 1000)
    const id = this.nextRequestId++
    if (!this.logger.isLevelEnabled('info')) return
    this.logger.info(
      {
        req: { id, method: req.method, path, remoteAddress: this.ips.resolve(req) },
        res: { statusCode: res.statusCode },
        responseTime: Math.round(ms),
        aborted: !res.writableFinished || undefined,
      },
      'request completed',
    )
  }

  /** A label from a bounded set: the registered method or route; never the raw path. */
  private routeLabel(verb: string, path: string): string {
    const route = this.findRoute(verb, path)
    if (route) return route.label
    if (path.startsWith('/xrpc/')) {
      const nsid = path.slice(6)
      if (this.methods.has(nsid) || this.subscriptions.has(nsid)) return path
      return '/xrpc/(proxied or unknown)'
    }
    return '(unmatched)'
  }
}

export function createXrpcServer(opts: XrpcServerOptions = {}): XrpcServer {
  return new XrpcServer(opts)
}

/** The router options a server config implies (limits, rate limits, response validation). */
export function xrpcOptionsFromConfig(cfg: ServerConfig): XrpcServerOptions {
  return {
    validateResponses: cfg.hearth.validateResponses,
    streamStallMs: cfg.hearth.streamStallMs,
    blobLimit: cfg.service.blobUploadLimit,
    rateLimits: {
      enabled: cfg.rateLimits.enabled,
      bypassKey: cfg.rateLimits.bypassKey,
      bypassIps: cfg.rateLimits.bypassIps,
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function noop(): void {}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && err.message === 'Maximum call stack size exceeded'
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** `Cache-Control: private` + `Vary: Authorization`, as the official auth verifiers set them. */
export function setAuthCacheHeaders(res: ServerResponse): void {
  if (res.headersSent) return
  res.setHeader('Cache-Control', 'private')
  appendVary(res, 'Authorization')
}

/**
 * The NSID of an XRPC path (`/xrpc/<nsid>` with an optional trailing slash), or null. Lenient
 * as the official router: dot/dash-separated alphanumeric segments, at least two characters;
 * whether a lexicon exists is checked later.
 */
export function extractXrpcNsid(path: string): string | null {
  if (!path.startsWith('/xrpc/')) return null
  let end = path.length
  if (end > 6 && path.charCodeAt(end - 1) === 47 /* / */) end--
  if (end - 6 < 2) return null
  let separatorAllowed = false
  for (let i = 6; i < end; i++) {
    const c = path.charCodeAt(i)
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    if (alnum) separatorAllowed = true
    else if ((c === 45 /* - */ || c === 46) /* . */ && separatorAllowed) separatorAllowed = false
    else return null
  }
  if (!separatorAllowed) return null // ends in '.' or '-'
  return path.slice(6, end)
}

function isStreamBody(body: unknown): body is Readable | AsyncIterable<Uint8Array> {
  if (body instanceof Readable) return true
  return (
    body !== null &&
    typeof body === 'object' &&
    !(body instanceof Uint8Array) &&
    typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
  )
}

/** Checks a handler's output against its lexicon, as the official dev-mode output verifier. */
function checkOutput(nsid: string, def: MethodDef, output: XrpcOutput): void {
  const fail = (message: string) => new XrpcError(500, 'InternalServerError', message)
  if (output && output.passthrough) return
  if (def.outputEncodings === null) {
    if (output !== undefined) throw fail('A response body was provided when none was expected')
    return
  }
  if (!output) throw fail('A response body is expected but none was provided')
  const encoding = output.encoding.split(';')[0].trim().toLowerCase()
  if (!encodingMatches(def.outputEncodings, encoding)) throw fail(`Invalid response encoding: ${output.encoding}`)
  const hasSchema = def.def.type !== 'subscription' && def.def.output?.schema !== undefined
  if (encoding === 'application/json' && hasSchema && !isStreamBody(output.body)) {
    // A handler may answer with JSON text it wrote itself (the record reads): checked as parsed.
    const body = output.body instanceof Uint8Array ? JSON.parse(Buffer.from(output.body).toString('utf8')) : output.body
    assertValidXrpcOutput(nsid, body)
  }
}

/**
 * Runs an output's onClose once the response is closed: when it has handed its last byte to the
 * socket ('finish' comes first), or its connection went, or at once when nothing more will be
 * written. Registered as soon as the handler answers, so that every way on (an invalid answer, an
 * error response, an aborted client) ends in it.
 */
function onResponseClosed(res: ServerResponse, output: XrpcOutput): void {
  const onClose = output && 'onClose' in output ? output.onClose : undefined
  if (!onClose) return
  if (res.destroyed || res.writableEnded) onClose()
  else res.once('close', onClose)
}

async function streamToResponse(
  source: Readable | AsyncIterable<Uint8Array>,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
  nsid: string,
  stallMs: number,
  noteBytes: (bytes: number) => void,
): Promise<void> {
  const readable = source instanceof Readable ? source : null
  let sent = 0
  const iterator = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]()
  let aborted = false
  const stopSource = () => {
    readable?.destroy()
    iterator.return?.()?.catch?.(noop)
  }
  const onClose = () => {
    if (!res.writableFinished) {
      aborted = true
      stopSource()
    }
  }
  res.on('close', onClose)
  try {
    // The first chunk is awaited before anything is sent, so a source that fails at once still
    // gets a proper error response.
    let next = await iterator.next()
    if (req.method === 'HEAD') {
      stopSource()
      res.end()
      return
    }
    while (!next.done) {
      if (aborted || res.destroyed) return
      const chunk = next.value
      sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength
      if (!res.write(chunk) && !(await drainOrClose(res, stallMs))) {
        logger.info({ nsid, stallMs }, `closed a streamed ${nsid} response: its client took nothing for ${stallMs} ms`)
        aborted = true
        stopSource()
        res.destroy()
        return
      }
      next = await iterator.next()
    }
    if (!aborted && !res.destroyed) res.end()
  } catch (err) {
    if (aborted || res.destroyed) return // the client left: not an error
    if (!res.headersSent) throw err
    logger.error({ err, nsid }, `response stream failed in xrpc method ${nsid}`)
    res.destroy()
  } finally {
    res.off('close', onClose)
    noteBytes(sent)
  }
}

/**
 * Resolves once a response that refused a write can take more, or is gone: true then; false if
 * `stallMs` is given and passes first.
 */
export function drainOrClose(res: ServerResponse, stallMs?: number): Promise<boolean> {
  // A response already closed would never emit either event.
  if (res.destroyed) return Promise.resolve(true)
  return new Promise((resolve) => {
    const finish = (taken: boolean) => {
      res.off('drain', done)
      res.off('close', done)
      if (timer !== undefined) clearTimeout(timer)
      resolve(taken)
    }
    const done = () => finish(true)
    const timer = stallMs === undefined ? undefined : setTimeout(() => finish(false), stallMs)
    res.once('drain', done)
    res.once('close', done)
  })
}

// A module function, not a closure: findRoute runs twice on every request (dispatch, metrics).
function routeForVerb(verbs: Map<string, Route>, verb: string): Route | null {
  return verbs.get(verb) ?? (verb === 'HEAD' ? (verbs.get('GET') ?? null) : null)
}

/**
 * Before an early response: the rest of the body is read and dropped, so that a client still
 * sending (or a proxy relaying it) finishes and reads the response, and keep-alive survives.
 * A body declared, or found, to be over DRAIN_LIMIT, or still arriving after DRAIN_TIMEOUT_MS,
 * is not waited for: the response closes the connection. Route handlers that answer before
 * reading the whole body (a body over their limit) call it too.
 */
export async function settleUnreadBody(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.complete || req.readableEnded || req.destroyed) return
  if (bodyPresence(req) !== 'present') return
  const raw = req.headers['content-length']
  if (raw !== undefined && !(parseInt(raw, 10) <= DRAIN_LIMIT)) {
    res.setHeader('Connection', 'close')
    return
  }
  await new Promise<void>((resolve) => {
    let drained = 0
    const timer = setTimeout(done, DRAIN_TIMEOUT_MS)
    function onData(chunk: Buffer): void {
      drained += chunk.length
      if (drained > DRAIN_LIMIT) done()
    }
    function done(): void {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', done)
      req.off('close', done)
      resolve()
    }
    req.on('data', onData)
    req.on('end', done)
    req.on('close', done)
    discardRest(req)
  })
  if (!req.complete) res.setHeader('Connection', 'close')
}

function discardRest(req: IncomingMessage): void {
  if (req.complete || req.readableEnded) return
  req.unpipe()
  req.resume()
}

/** As express's final handler: 404 with a small HTML page. */
function sendNotFound(req: IncomingMessage, res: ServerResponse, verb: string, path: string): void {
  const body = `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot ${escapeHtml(verb)} ${escapeHtml(path)}</pre>\n</body>\n</html>\n`
  res.statusCode = 404
  res.setHeader('Content-Security-Policy', "default-src 'none'")
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(body)
  discardRest(req)
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
}
