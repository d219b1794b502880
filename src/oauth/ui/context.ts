// What the page handlers share: the services, the provider, the device sessions, the sign-in
// checker, and the sign-ins made for one pending authorization request without "remember me".
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CoreServices } from '../../core-services.ts'
import type { Logger } from '../../logger.ts'
import { OAuthError, type OAuthProvider } from '../provider.ts'
import { type DeviceAccount } from '../device/store.ts'
import type { OAuthStore } from '../store.ts'
import type { DeviceManager } from '../device/manager.ts'
import { settleUnreadBody } from '../../xrpc/server.ts'
import { FormError } from './forms.ts'
import { type Brand, brandResponse, sendErrorPage } from './html.ts'
import type { SignInChecker } from './sign-in.ts'

/** The official AUTHENTICATION_MAX_AGE: a remembered sign-in older than this asks for the password again. */
export const AUTHENTICATION_MAX_AGE_MS = 7 * 24 * 60 * 60_000

/** What the pages use: accounts, sessions, settings and the log, and for the account settings what their XRPC methods use. */
export type PagesServices = Pick<
  CoreServices,
  | 'accounts' | 'actors' | 'blobs' | 'config' | 'didResolver' | 'handleResolver' | 'logger' | 'mailer' | 'plc' | 'plcRotationKey' | 'sequencer' | 'sessions'
>

export interface PagesContext {
  s: PagesServices
  provider: OAuthProvider
  /** The OAuth tables, for the sessions the account page lists. */
  tokens: OAuthStore
  devices: DeviceManager
  signIn: SignInChecker
  issuerOrigin: string
  secureCookies: boolean
  requestSignIns: RequestSignIns
}

export interface SessionView extends DeviceAccount {
  loginRequired: boolean
}

export function deviceSessions(ctx: PagesContext, deviceId: string, forceLogin = false): SessionView[] {
  const now = Date.now()
  return ctx.devices.store.listDeviceAccounts(deviceId).map((a) => ({
    ...a,
    loginRequired: forceLogin || now - Date.parse(a.updatedAt) > AUTHENTICATION_MAX_AGE_MS,
  }))
}

/**
 * Sign-ins for one authorization request on one device (for accounts not remembered, or a
 * prompt=login re-authentication), kept in memory until the request is answered or expires.
 */
export class RequestSignIns {
  readonly #entries = new Map<string, { deviceId: string; did: string; expiresAt: number }>()

  set(requestUri: string, deviceId: string, did: string, expiresAt: Date): void {
    const now = Date.now()
    for (const [k, v] of this.#entries) if (v.expiresAt <= now) this.#entries.delete(k)
    this.#entries.set(requestUri, { deviceId, did, expiresAt: expiresAt.getTime() })
  }

  has(requestUri: string, deviceId: string, did: string): boolean {
    const e = this.#entries.get(requestUri)
    return e !== undefined && e.expiresAt > Date.now() && e.deviceId === deviceId && e.did === did
  }

  delete(requestUri: string): void {
    this.#entries.delete(requestUri)
  }
}

/** Runs a page handler: FormError becomes an error page; anything else is logged and a 500 page. */
export function guard(ctx: PagesContext, res: ServerResponse, req: IncomingMessage, fn: () => Promise<void>): Promise<void> {
  return runPage(req, res, { secure: ctx.secureCookies, logger: ctx.s.logger, failure: 'oauth page failed', brand: ctx.s.config.oauth.branding }, fn)
}

/**
 * What every server-rendered page (OAuth, account, admin) does around its handler: HSTS on an
 * https issuer (as the official pages, helmet's default), a FormError or OAuthError as an error
 * page, anything else logged and a 500 page; an unread body is let go first.
 */
export async function runPage(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { secure: boolean; logger: Logger; failure: string; brand?: Brand },
  fn: () => Promise<void>,
): Promise<void> {
  if (opts.brand) brandResponse(res, opts.brand)
  if (opts.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains')
  try {
    await fn()
  } catch (err) {
    if (res.headersSent) {
      res.destroy()
      return
    }
    // A body refused part-way (too large) may still be arriving: read and drop the rest
    // (bounded) before answering, so the sender reads the page instead of a reset.
    await settleUnreadBody(req, res)
    if (err instanceof FormError) {
      return sendErrorPage(res, err.status, 'Request refused', err.message)
    }
    if (err instanceof OAuthError) {
      // E.g. the request expired between showing the page and pressing Accept.
      const status = err.status >= 400 && err.status < 600 ? err.status : 400
      return sendErrorPage(res, status, 'Authorization failed', `${err.error}: ${err.description}`)
    }
    opts.logger.error({ err: err instanceof Error ? err.message : String(err), path: req.url?.split('?')[0] }, opts.failure)
    sendErrorPage(res, 500, 'Something went wrong', 'The server could not complete this request. Try again later.')
  }
}

/** GET pages are documents: refuse being fetched as a subresource or from a script (when the browser says so). */
export function checkNavigation(req: IncomingMessage): void {
  const dest = req.headers['sec-fetch-dest']
  if (typeof dest === 'string' && dest !== 'document') throw new FormError(403, 'This page cannot be embedded.')
}
