// CORS as the official PDS sends it (the `cors` express middleware, default options plus
// `maxAge: 86400`): every response allows any origin; every OPTIONS request is answered as a
// preflight with 204, the default method list, the requested headers echoed, and a one-day max age.
import type { IncomingMessage, ServerResponse } from 'node:http'

export const CORS_MAX_AGE_SECONDS = 86400
const ALLOWED_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE'

export function setCorsHeaders(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*')
}

/** Adds names to Access-Control-Expose-Headers, keeping those already there. */
export function exposeHeaders(res: ServerResponse, names: readonly string[]): void {
  const current = res.getHeader('Access-Control-Expose-Headers')
  const list = current === undefined ? [] : String(current).split(',').map((v) => v.trim()).filter(Boolean)
  const lower = new Set(list.map((v) => v.toLowerCase()))
  for (const name of names) if (!lower.has(name.toLowerCase())) list.push(name)
  res.setHeader('Access-Control-Expose-Headers', list.join(', '))
}

/** Answers a preflight request in full. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  setCorsHeaders(res)
  res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS)
  appendVary(res, 'Access-Control-Request-Headers')
  const requested = req.headers['access-control-request-headers']
  if (requested) res.setHeader('Access-Control-Allow-Headers', requested)
  res.setHeader('Access-Control-Max-Age', String(CORS_MAX_AGE_SECONDS))
  res.statusCode = 204
  res.setHeader('Content-Length', '0')
  res.end()
}

/** Adds a field to the Vary header unless it (or `*`) is already there. */
export function appendVary(res: ServerResponse, field: string): void {
  const current = res.getHeader('Vary')
  // The common case (every authenticated request, once or twice): nothing there, or this field.
  if (current === undefined) return void res.setHeader('Vary', field)
  if (current === field) return
  const list = (Array.isArray(current) ? current : [String(current)]).flatMap((v) => v.split(','))
  const names = list.map((v) => v.trim().toLowerCase())
  if (names.includes('*') || names.includes(field.toLowerCase())) return
  res.setHeader('Vary', [...list.map((v) => v.trim()).filter(Boolean), field].join(', '))
}
