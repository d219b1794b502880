// Form posts to the pages: a small urlencoded body, and the checks that make a post come from
// our own page in this browser: Sec-Fetch-Site (when the browser sends it) is same-origin, the
// Origin (when sent) is the issuer's, and the `csrf` field equals the device's CSRF cookie
// (double submit: another site can make the browser post, but cannot read or set the cookie).
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseCookies, setCookie } from '../device/cookies.ts'
import { XrpcError } from '../../errors.ts'
import { readBody, RequestAbortedError } from '../../xrpc/body.ts'

export const CSRF_COOKIE = 'hearth-csrf'
const CSRF_RE = /^[0-9a-f]{32}$/
const MAX_FORM_BYTES = 16 * 1024

export class FormError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** The CSRF token of this browser, set as a cookie when it has none. */
export function csrfToken(req: IncomingMessage, res: ServerResponse, secure: boolean): string {
  const existing = parseCookies(req).get(CSRF_COOKIE)
  const token = existing !== undefined && CSRF_RE.test(existing) ? existing : randomBytes(16).toString('hex')
  // Refreshed on every page so it outlives the device session rotation.
  setCookie(res, CSRF_COOKIE, token, { secure, httpOnly: true, sameSite: 'Lax', maxAge: 24 * 60 * 60 })
  return token
}

/** Throws FormError(403) unless the post comes from one of our pages (see above). */
function checkSameOrigin(req: IncomingMessage, issuerOrigin: string): void {
  const site = req.headers['sec-fetch-site']
  if (typeof site === 'string' && site !== 'same-origin') throw new FormError(403, 'This form must be sent from this site.')
  const origin = req.headers.origin
  if (typeof origin === 'string' && origin !== issuerOrigin) throw new FormError(403, 'This form must be sent from this site.')
}

function checkCsrf(req: IncomingMessage, form: URLSearchParams): void {
  const cookie = parseCookies(req).get(CSRF_COOKIE)
  const field = form.get('csrf')
  if (!cookie || !field || !CSRF_RE.test(cookie) || !CSRF_RE.test(field)) {
    throw new FormError(403, 'The form expired or was not sent from this site. Go back, reload the page and try again.')
  }
  if (!timingSafeEqual(Buffer.from(cookie), Buffer.from(field))) {
    throw new FormError(403, 'The form expired or was not sent from this site. Go back, reload the page and try again.')
  }
}

/**
 * Reads an application/x-www-form-urlencoded body (at most 16 KiB). A refused body is left
 * unread for the page guard to drain: ending the read by destroying the request (as leaving a
 * `for await` over it does) would reset a sender still writing, who would never see the page.
 */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') throw new FormError(415, 'Unsupported form encoding.')
  let body: Buffer
  try {
    body = await readBody(req, MAX_FORM_BYTES)
  } catch (err) {
    if (err instanceof XrpcError && err.status === 413) throw new FormError(413, 'Form too large.')
    if (err instanceof XrpcError) throw new FormError(400, err.message)
    if (err instanceof RequestAbortedError) throw new FormError(400, 'The form did not arrive whole. Send it again.')
    throw err
  }
  return new URLSearchParams(body.toString('utf8'))
}

/**
 * A form posted to one of the pages: sent from this site (Fetch metadata and Origin), read
 * within its size limit, and carrying the CSRF token its page gave — in that order, so a
 * cross-site post is refused before its body is read.
 */
export async function readPostedForm(req: IncomingMessage, origin: string): Promise<URLSearchParams> {
  checkSameOrigin(req, origin)
  const form = await readForm(req)
  checkCsrf(req, form)
  return form
}
