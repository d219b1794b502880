// The OAuth protocol endpoints (metadata, PAR, token, revocation, JWKS), mounted as plain routes
// next to XRPC with the official's CORS (any origin, no credentials) and no-store answers.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PagesServices } from './ui/context.ts'
import { readBody } from '../xrpc/body.ts'
import { XrpcError } from '../errors.ts'
import { type HttpMethod, settleUnreadBody, type XrpcServer } from '../xrpc/server.ts'
import { invalidRequest, OAuthError } from './errors.ts'
import type { OAuthProvider } from './provider.ts'

// As the official: the bound is on the decoded body, so a compressed body cannot pass more.
const BODY_LIMIT = 100 * 1024

function cors(res: ServerResponse): void {
  // As the official provider's corsHeaders: preflights cached for a day.
  res.setHeader('Access-Control-Max-Age', '86400')
  res.setHeader('Access-Control-Allow-Origin', '*')
  res.setHeader('Access-Control-Allow-Methods', '*')
  res.setHeader('Access-Control-Allow-Headers', 'Content-Type,DPoP')
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}

function exposeHeader(res: ServerResponse, name: string): void {
  const prev = res.getHeader('Access-Control-Expose-Headers')
  res.setHeader('Access-Control-Expose-Headers', prev ? `${String(prev)}, ${name}` : name)
}

/** A JSON or form-encoded body as a flat record. */
export async function readOAuthBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  let buf: Buffer
  try {
    buf = await readBody(req, BODY_LIMIT)
  } catch (err) {
    if (err instanceof XrpcError && err.status === 413) {
      throw new OAuthError(413, 'invalid_request', `Request body too large (the limit is ${BODY_LIMIT / 1024} KiB)`)
    }
    if (err instanceof XrpcError) throw invalidRequest(err.message)
    throw err
  }
  const text = buf.toString('utf8')
  if (type === 'application/json') {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw invalidRequest('Invalid JSON body')
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidRequest('Expected a JSON object')
    return value as Record<string, unknown>
  }
  if (type === 'application/x-www-form-urlencoded') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of new URLSearchParams(text)) {
      if (Object.hasOwn(out, k)) throw invalidRequest(`Duplicate "${k}" parameter`)
      out[k] = v
    }
    return out
  }
  throw invalidRequest(`Unsupported content type "${type}"`)
}

export function mountOAuth(xrpc: XrpcServer, s: PagesServices & { oauth: OAuthProvider }): void {
  const provider = s.oauth
  const { logger } = s

  const preflight = (path: string) =>
    xrpc.addRoute('OPTIONS', path, ({ res }) => {
      cors(res)
      res.writeHead(200).end()
    }, { cors: false })

  const staticJson = (path: string, build: () => unknown) => {
    preflight(path)
    xrpc.addRoute(['GET', 'HEAD'], path, ({ res }) => {
      cors(res)
      res.setHeader('Cache-Control', 'max-age=300')
      sendJson(res, 200, build())
    }, { cors: false })
  }
  staticJson('/.well-known/oauth-protected-resource', () => provider.protectedResourceMetadata())
  staticJson('/.well-known/oauth-authorization-server', () => provider.authorizationServerMetadata())
  staticJson('/oauth/jwks', () => provider.jwks())

  const endpoint = (
    path: string,
    run: (provider: OAuthProvider, body: Record<string, unknown>, req: IncomingMessage, url: URL) => Promise<unknown>,
    status = 200,
  ) => {
    preflight(path)
    xrpc.addRoute('POST', path, async ({ req, res }) => {
      cors(res)
      res.setHeader('Cache-Control', 'no-store')
      res.setHeader('Pragma', 'no-cache')
      res.setHeader('DPoP-Nonce', provider.dpop.nonces.next())
      exposeHeader(res, 'DPoP-Nonce')
      try {
        const body = await readOAuthBody(req)
        const url = new URL(req.url ?? path, provider.issuer)
        const out = await run(provider, body, req, url)
        sendJson(res, status, out)
      } catch (err) {
        // A body refused part-way (over the limit) is still arriving: read and drop the rest
        // (bounded) before answering, or the client meets a reset instead of the 413.
        await settleUnreadBody(req, res)
        if (err instanceof OAuthError) {
          if (err.headers['WWW-Authenticate']) exposeHeader(res, 'WWW-Authenticate')
          sendJson(res, err.status, err.toJSON(), err.headers)
          return
        }
        logger.error({ err, path }, 'OAuth endpoint failed')
        sendJson(res, 500, { error: 'server_error', error_description: 'Server error' })
      }
    }, { cors: false })
    // RFC 9126 §2.3 (and alike for the others): any other method is 405.
    const others: HttpMethod[] = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']
    xrpc.addRoute(others, path, ({ res }) => {
      res.writeHead(405).end()
    }, { cors: false })
  }

  endpoint(
    '/oauth/par',
    async (p, body, req, url) => p.pushedAuthorizationRequest(body, await p.dpop.check('POST', url, req.headers)),
    201,
  )
  endpoint('/oauth/token', async (p, body, req, url) => p.token(body, await p.dpop.check('POST', url, req.headers)))
  endpoint('/oauth/revoke', async (p, body, req, url) => {
    await p.revoke(body, await p.dpop.check('POST', url, req.headers))
    return {}
  })
}
