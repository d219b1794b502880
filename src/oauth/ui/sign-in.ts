// The sign-in check of the pages: createSession's (handle, email or DID, account password,
// the same login time floor), then the official OAuth rules: an app password is refused, a
// taken-down account is refused, a deactivated one may sign in. Attempts are rate limited per
// identifier and address (as createSession: 30 per 5 minutes, 300 a day) and per address.
import type { AccountRow } from '../../account/store.ts'
import type { CoreServices } from '../../core-services.ts'
import { XrpcError } from '../../errors.ts'
import { MemoryRateLimiter } from '../../xrpc/rate-limiter.ts'

export interface SignInLimits {
  perIdentifier5m: number
  perIdentifierDay: number
  perIp5m: number
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { perIdentifier5m: 30, perIdentifierDay: 300, perIp5m: 100 }

export type SignInResult =
  | { ok: true; account: AccountRow }
  | { ok: false; status: number; message: string }

export const BAD_LOGIN_MESSAGE = 'Wrong identifier or password.'

export class SignInChecker {
  readonly #limiters: Array<{ limiter: MemoryRateLimiter; byIdentifier: boolean }>

  constructor(
    private readonly s: Pick<CoreServices, 'accounts' | 'sessions'>,
    limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS,
  ) {
    this.#limiters = [
      { limiter: new MemoryRateLimiter('oauth-sign-in-5m', 5 * 60_000, limits.perIdentifier5m), byIdentifier: true },
      { limiter: new MemoryRateLimiter('oauth-sign-in-day', 24 * 60 * 60_000, limits.perIdentifierDay), byIdentifier: true },
      { limiter: new MemoryRateLimiter('oauth-sign-in-ip-5m', 5 * 60_000, limits.perIp5m), byIdentifier: false },
    ]
  }

  async check(identifier: string, password: string, ip: string): Promise<SignInResult> {
    identifier = identifier.trim()
    if (!identifier || !password) return { ok: false, status: 400, message: 'Enter your handle, email or DID and your password.' }
    const key = `${identifier.toLowerCase()}-${ip}`
    let limited = false
    for (const { limiter, byIdentifier } of this.#limiters) {
      if (limiter.consume(byIdentifier ? key : ip, 1).exceeded) limited = true
    }
    if (limited) return { ok: false, status: 429, message: 'Too many sign-in attempts. Wait a few minutes and try again.' }
    try {
      const login = await this.s.sessions.login({ identifier, password, allowTakendown: true })
      if (login.takendown) return { ok: false, status: 403, message: 'This account was taken down.' }
      if (login.appPassword) {
        return { ok: false, status: 401, message: 'App passwords are not accepted here. Sign in with your account password.' }
      }
      return { ok: true, account: login.account }
    } catch (err) {
      if (err instanceof XrpcError && err.status === 429) {
        // Too many password checks queued server-wide: not this password's fault.
        return { ok: false, status: 429, message: 'The server is busy. Wait a moment and try again.' }
      }
      if (err instanceof XrpcError && err.status < 500) {
        const tooLong = /too long/i.test(err.message)
        return { ok: false, status: 401, message: tooLong ? err.message : BAD_LOGIN_MESSAGE }
      }
      throw err
    }
  }
}
