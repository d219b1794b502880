// Which browser is this? A device is identified by two cookies, as the official oauth-provider
// names and formats them: `dev-id` (`dev-` + 32 hex digits, stable) and `ses-id` (`ses-` + 32 hex
// digits, rotated every 5 minutes, on a new IP or user agent, and on every sign-in). A `ses-id`
// that does not match the stored one is a stolen or fixed cookie, unless the row was rotated in
// the last few seconds (a concurrent request): then the device is forgotten and a new one made.
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseCookies, setCookie } from './cookies.ts'
import type { DeviceStore } from './store.ts'

export const DEVICE_COOKIE = 'dev-id'
export const SESSION_COOKIE = 'ses-id'
const DEVICE_ID_RE = /^dev-[0-9a-f]{32}$/
const SESSION_ID_RE = /^ses-[0-9a-f]{32}$/
const ROTATION_MS = 5 * 60_000
const SESSION_FIXATION_MAX_AGE_MS = 5_000
const COOKIE_AGE_SECONDS = Math.floor((10 * 365.2 * 24 * 60 * 60e3) / 1000)

export interface DeviceManagerOptions {
  /** Cookies get `Secure` (the issuer is https). */
  secure: boolean
  now?: () => number
}

export class DeviceManager {
  readonly #now: () => number
  constructor(
    readonly store: DeviceStore,
    private readonly opts: DeviceManagerOptions,
  ) {
    this.#now = opts.now ?? Date.now
  }

  /** The request's device, created (with fresh cookies) when it has none or a bad one. */
  load(req: IncomingMessage, res: ServerResponse, ip: string, forceRotate = false): { deviceId: string } {
    const cookies = parseCookies(req)
    const deviceId = cookies.get(DEVICE_COOKIE)
    const sessionId = cookies.get(SESSION_COOKIE)
    const validDevice = deviceId !== undefined && DEVICE_ID_RE.test(deviceId)
    if (!validDevice || sessionId === undefined || !SESSION_ID_RE.test(sessionId)) {
      if (validDevice) this.store.deleteDevice(deviceId)
      return this.#create(req, res, ip)
    }
    const row = this.store.readDevice(deviceId)
    if (!row) return this.#create(req, res, ip)
    const age = this.#now() - Date.parse(row.lastSeenAt)
    let rotate = forceRotate
    if (sessionId !== row.sessionId) {
      if (age > SESSION_FIXATION_MAX_AGE_MS) {
        this.store.deleteDevice(deviceId)
        return this.#create(req, res, ip)
      }
      rotate = true
    }
    const userAgent = userAgentOf(req)
    if (rotate || ip !== row.ipAddress || (userAgent !== null && userAgent !== row.userAgent) || age > ROTATION_MS) {
      const next = newId('ses-')
      this.store.updateDevice(deviceId, {
        sessionId: next,
        userAgent: userAgent ?? row.userAgent,
        ipAddress: ip,
        lastSeenAt: new Date(this.#now()).toISOString(),
      })
      this.#setCookies(res, deviceId, next)
    }
    return { deviceId }
  }

  /** The device of a request, without creating or rotating anything (null when unknown). */
  peek(req: IncomingMessage): string | null {
    const cookies = parseCookies(req)
    const deviceId = cookies.get(DEVICE_COOKIE)
    const sessionId = cookies.get(SESSION_COOKIE)
    if (!deviceId || !sessionId || !DEVICE_ID_RE.test(deviceId)) return null
    const row = this.store.readDevice(deviceId)
    return row && row.sessionId === sessionId ? deviceId : null
  }

  #create(req: IncomingMessage, res: ServerResponse, ip: string): { deviceId: string } {
    const deviceId = newId('dev-')
    const sessionId = newId('ses-')
    this.store.createDevice({
      id: deviceId,
      sessionId,
      userAgent: userAgentOf(req),
      ipAddress: ip,
      lastSeenAt: new Date(this.#now()).toISOString(),
    })
    this.#setCookies(res, deviceId, sessionId)
    return { deviceId }
  }

  #setCookies(res: ServerResponse, deviceId: string, sessionId: string): void {
    const opts = { maxAge: COOKIE_AGE_SECONDS, secure: this.opts.secure, httpOnly: true, sameSite: 'Lax' as const }
    setCookie(res, DEVICE_COOKIE, deviceId, opts)
    setCookie(res, SESSION_COOKIE, sessionId, opts)
  }
}

function newId(prefix: 'dev-' | 'ses-'): string {
  return prefix + randomBytes(16).toString('hex')
}

function userAgentOf(req: IncomingMessage): string | null {
  const ua = req.headers['user-agent']
  return typeof ua === 'string' && ua.length > 0 ? ua.slice(0, 512) : null
}
