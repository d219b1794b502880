// The routes every PDS answers outside XRPC, as the official PDS: a plain-text page at `/` (a
// browser asking for HTML gets the home page instead, when one is given),
// `/robots.txt` allowing crawlers, and `/xrpc/_health` reporting the version (503 when the
// health check fails).
import type { ServerResponse } from 'node:http'
import { subsystemLogger } from '../logger.ts'
import type { RouteHandler, XrpcServer } from '../xrpc/server.ts'

export interface BasicRoutesOptions {
  /** Reported by /xrpc/_health (config.service.version). */
  version: string
  /** Throws (or rejects) when the server cannot serve: e.g. `select 1` on the account database. */
  check?: () => void | Promise<void>
  /** GET / for a request that accepts text/html (the home page). */
  home?: RouteHandler
}

const BANNER = `
  _                     _   _
 | |__   ___  __ _ _ __| |_| |__
 | '_ \\ / _ \\/ _\` | '__| __| '_ \\
 | | | |  __/ (_| | |  | |_| | | |
 |_| |_|\\___|\\__,_|_|   \\__|_| |_|


This is an AT Protocol Personal Data Server (aka, an atproto PDS), run by Hearth.

Most API routes are under /xrpc/

  Protocol: https://atproto.com
`

const ROBOTS = '# Hello!\n\n# Crawling the public API is allowed\nUser-agent: *\nAllow: /'

const log = subsystemLogger('hearth:http')

export function registerBasicRoutes(server: XrpcServer, opts: BasicRoutesOptions): void {
  server.addRoute('GET', '/', (ctx) => {
    const home = opts.home
    if (home && /\btext\/html\b/.test(ctx.req.headers.accept ?? '')) return home(ctx)
    sendText(ctx.res, 200, BANNER)
  })
  server.addRoute('GET', '/robots.txt', ({ res }) => sendText(res, 200, ROBOTS))
  server.addRoute('GET', '/xrpc/_health', async ({ res }) => {
    const { version } = opts
    try {
      await opts.check?.()
    } catch (err) {
      log.error({ err }, 'failed health check')
      sendJson(res, 503, { version, error: 'Service Unavailable' })
      return
    }
    sendJson(res, 200, { version })
  })
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}
