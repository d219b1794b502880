// Minimal cookie parsing and serialisation for the sign-in pages (no dependency needed for the
// handful of cookies they use).
import type { IncomingMessage, ServerResponse } from 'node:http'

export function parseCookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>()
  const header = req.headers.cookie
  if (!header) return out
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim()
    let value = part.slice(eq + 1).trim()
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    // The first occurrence wins (the most specific path, as browsers order them).
    if (name && !out.has(name)) {
      try {
        out.set(name, decodeURIComponent(value))
      } catch {
        // A malformed value is ignored, as if absent.
      }
    }
  }
  return out
}

export interface CookieOptions {
  /** Seconds; 0 deletes; undefined makes a session cookie. */
  maxAge?: number
  secure: boolean
  httpOnly?: boolean
  sameSite?: 'Lax' | 'Strict'
  path?: string
}

export function setCookie(res: ServerResponse, name: string, value: string, opts: CookieOptions): void {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${opts.path ?? '/'}`]
  if (opts.maxAge !== undefined) parts.push(`Max-Age=${Math.floor(opts.maxAge)}`)
  if (opts.httpOnly !== false) parts.push('HttpOnly')
  if (opts.secure) parts.push('Secure')
  parts.push(`SameSite=${opts.sameSite ?? 'Lax'}`)
  const prev = res.getHeader('Set-Cookie')
  const list = Array.isArray(prev) ? prev : typeof prev === 'string' ? [prev] : []
  // A later write of the same cookie in one response replaces the earlier one.
  res.setHeader('Set-Cookie', [...list.filter((c) => !c.startsWith(`${name}=`)), parts.join('; ')])
}
