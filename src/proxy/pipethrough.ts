// Proxying XRPC calls to other services with service auth, as the official pipethrough.ts:
//
//  - proxyFallback: every /xrpc/<nsid> call no Hearth method takes (app.bsky.*, chat.bsky.*,
//    tools.ozone.*, com.atproto.moderation.*, …) streams to its service and back untouched.
//  - pipethrough: for the app.bsky handlers that look at the response (read-after-write).
//
// Each forwarded call carries a fresh service-auth JWT (iss the account, aud the service DID,
// lxm the method, 60 s) signed with the account's repo key, and only the request headers the
// official forwards. Responses come back with their status and the forwarded headers.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline, type Readable } from 'node:stream'
import { createServiceJwt } from '../auth/jwt.ts'
import { assertRpcPermission, isOAuth } from '../auth/permissions.ts'
import type { AccessAuth, AuthResult } from '../xrpc/auth-result.ts'
import type { AccessOptions } from '../auth/verifier.ts'
import type { CoreServices } from '../core-services.ts'
import { invalidRequest, XrpcError } from '../errors.ts'
import { setAuthCacheHeaders, type XrpcFallback } from '../xrpc/server.ts'
import type { XrpcContext, XrpcOutput } from '../xrpc/types.ts'
import { isPrivilegedMethod, isProtectedMethod } from './methods.ts'
import { computeProxyTo, proxyHeader, resolveProxyTarget } from './target.ts'
import { forwardedResponseHeaders, type ProxyClient, type UpstreamResponse, type UpstreamTarget } from './upstream.ts'

type ProxyServices = Pick<CoreServices, 'config' | 'auth' | 'actors' | 'didResolver' | 'logger'> & { proxy: ProxyClient }

/** A service-auth JWT for `did`, signed with its repo key (official ctx.serviceAuthJwt). */
export function serviceAuthJwt(s: Pick<CoreServices, 'actors'>, did: string, aud: string, lxm: string | null): string {
  const store = s.actors.get(did)
  if (!store) throw invalidRequest(`Could not find repo for DID: ${did}`)
  return createServiceJwt({ iss: did, aud, lxm, keypair: store.keypair() })
}


/**
 * POSTs a JSON body to `target` as `iss`, with a service-auth token for `aud` and `nsid`: the
 * methods Hearth registers itself but forwards (createReport, registerPush). Uncompressed, so
 * the caller can read the answer.
 */
export function postJsonUpstream(
  s: Pick<CoreServices, 'actors'> & { proxy: ProxyClient },
  target: UpstreamTarget,
  nsid: string,
  iss: string,
  body: unknown,
): Promise<UpstreamResponse> {
  const bytes = Buffer.from(JSON.stringify(body))
  return s.proxy.request(target, {
    method: 'POST',
    path: `/xrpc/${nsid}`,
    headers: {
      'content-type': 'application/json',
      'content-length': String(bytes.byteLength),
      'accept-encoding': 'identity',
      authorization: `Bearer ${serviceAuthJwt(s, iss, target.did, nsid)}`,
    },
    body: bytes,
  })
}
/**
 * Aborted when the client's connection closes before its response was sent, so that the
 * upstream request is dropped with it rather than left running for nobody.
 */
export function clientSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController()
  if (res.destroyed && !res.writableFinished) controller.abort()
  else
    res.once('close', () => {
      if (!res.writableFinished) controller.abort()
    })
  return controller.signal
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** The official refusal for app passwords on chat / account creation (OAuth has its rpc scopes instead). */
export function assertMethodAllowed(auth: AuthResult, lxm: string): void {
  if (auth.kind !== 'access' || auth.permissions !== undefined) return
  if (isPrivilegedMethod(lxm) && auth.scope !== 'com.atproto.access' && auth.scope !== 'com.atproto.appPassPrivileged') {
    throw invalidRequest('Bad token method', 'InvalidToken')
  }
}

/** The router fallback: proxies a call no registered method takes. */
export function proxyFallback(s: ProxyServices): XrpcFallback {
  return async ({ nsid, req, res, ip }) => {
    const verb = (req.method ?? 'GET').toUpperCase()
    if (verb !== 'GET' && verb !== 'HEAD' && verb !== 'POST') {
      throw invalidRequest('XRPC requests only supports GET and POST')
    }
    // Account management is never done through another service's say-so.
    if (isProtectedMethod(nsid)) throw invalidRequest('Bad token method', 'InvalidToken')
    const target = await resolveProxyTarget(s, req, nsid)
    if (req.headers.authorization !== undefined) setAuthCacheHeaders(res)
    const auth = await s.auth.accessStandard({ nsid, req, ip, res })
    setAuthCacheHeaders(res)
    assertRpcPermission(auth, nsid, computeProxyTo(s, req, nsid))
    assertMethodAllowed(auth, nsid)
    const isPost = verb === 'POST'
    const upstream = await s.proxy.request(target, {
      method: verb,
      path: req.url ?? `/xrpc/${nsid}`,
      headers: {
        'accept-encoding': header(req, 'accept-encoding') || 'identity',
        'accept-language': header(req, 'accept-language'),
        'atproto-accept-labelers': header(req, 'atproto-accept-labelers'),
        'x-bsky-topics': header(req, 'x-bsky-topics'),
        'content-type': isPost ? header(req, 'content-type') : undefined,
        'content-encoding': isPost ? header(req, 'content-encoding') : undefined,
        'content-length': isPost ? header(req, 'content-length') : undefined,
        authorization: `Bearer ${serviceAuthJwt(s, auth.did, target.did, nsid)}`,
      },
      body: isPost ? req : null,
      signal: clientSignal(res),
    })
    res.statusCode = upstream.statusCode ?? 200
    for (const [name, value] of Object.entries(forwardedResponseHeaders(upstream.headers))) res.setHeader(name, value)
    await streamBack(upstream.body, res, s)
  }
}

function streamBack(upstream: Readable, res: ServerResponse, s: ProxyServices): Promise<void> {
  return new Promise((resolve) => {
    pipeline(upstream, res, (err) => {
      // Once bytes flowed there is no error response left to give: the connection just ends.
      if (err && !res.destroyed) s.logger.warn({ reason: err.message }, 'error forwarding upstream response')
      resolve()
    })
  })
}

export interface PipethroughOptions {
  /** Sign a service token as this DID (omit for an unauthenticated call). */
  iss?: string
  /** Token audience (default: the target service's DID). */
  aud?: string
  /** Token method (default: the called method). */
  lxm?: string
}

export interface PipethroughResult {
  /** The upstream content type (application/json when it sent none). */
  encoding: string
  /** The forwarded response headers. */
  headers: Record<string, string>
  /** The upstream response (headers and body). */
  response: UpstreamResponse
  target: UpstreamTarget
}

/** A GET/HEAD call forwarded from a registered handler; the caller reads or returns the stream. */
export async function pipethrough(
  s: ProxyServices,
  ctx: Pick<XrpcContext, 'req' | 'nsid'> & { res?: ServerResponse },
  opts: PipethroughOptions = {},
): Promise<PipethroughResult> {
  const verb = (ctx.req.method ?? 'GET').toUpperCase()
  if (verb !== 'GET' && verb !== 'HEAD') throw new XrpcError(500, 'InternalServerError', `Proxying of ${verb} requests is not supported`)
  const target = await resolveProxyTarget(s, ctx.req, ctx.nsid)
  const lxm = opts.lxm ?? ctx.nsid
  const upstream = await s.proxy.request(target, {
    method: verb,
    path: ctx.req.url ?? `/xrpc/${ctx.nsid}`,
    headers: {
      'accept-language': header(ctx.req, 'accept-language'),
      'atproto-accept-labelers': header(ctx.req, 'atproto-accept-labelers'),
      'x-bsky-topics': header(ctx.req, 'x-bsky-topics'),
      // The response may have to be read here (read-after-write): ask for what needs no decoding.
      'accept-encoding': 'identity',
      authorization: opts.iss ? `Bearer ${serviceAuthJwt(s, opts.iss, opts.aud ?? target.did, lxm)}` : undefined,
    },
    signal: ctx.res ? clientSignal(ctx.res) : undefined,
  })
  const headers = forwardedResponseHeaders(upstream.headers)
  return { encoding: headers['content-type'] ?? 'application/json', headers, response: upstream, target }
}

/** A pipethrough result as a handler output: the upstream bytes and headers, streamed. */
export function streamOutput(result: PipethroughResult): XrpcOutput {
  const headers = { ...result.headers }
  delete headers['content-type']
  return { encoding: result.encoding, body: result.response.body, headers, passthrough: true }
}

/** The auth of the app.bsky handlers: an access session, then the rpc-permission hook. */
export function proxiedAccessAuth(s: ProxyServices, nsid: string) {
  return async (info: Parameters<CoreServices['auth']['accessStandard']>[0]): Promise<AccessAuth> => {
    // Before the session: without an AppView (and no header) the official has no such route and
    // its catch-all answers "No service configured" to anyone.
    const aud = computeProxyTo(s, info.req, nsid)
    const auth = await s.auth.accessStandard(info)
    assertRpcPermission(auth, nsid, aud)
    return auth
  }
}

/**
 * The auth of the methods served here unless `atproto-proxy` names another service (the
 * preferences): the session first, then, for OAuth, `rpc:<nsid>?aud=<proxy-to>`. Without an
 * AppView the official has no such methods at all; legacy sessions are served here regardless,
 * OAuth ones get the official's "No service configured" when no audience can be named.
 */
export function locallyServedAuth(s: ProxyServices, nsid: string, opts: AccessOptions) {
  const access = s.auth.access(opts)
  return async (info: Parameters<CoreServices['auth']['accessStandard']>[0]): Promise<AccessAuth> => {
    const auth = await access(info)
    if (isOAuth(auth)) assertRpcPermission(auth, nsid, computeProxyTo(s, info.req, nsid))
    return auth
  }
}

/**
 * The service an `atproto-proxy` header names when it is not the configured AppView (whose
 * methods this PDS answers itself), else null.
 */
export function otherServiceAudience(s: Pick<CoreServices, 'config'>, req: IncomingMessage): string | null {
  const value = proxyHeader(req)
  if (!value) return null
  const appView = s.config.bskyAppView
  return appView && value === `${appView.did}#bsky_appview` ? null : value
}
