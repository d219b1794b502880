// The sign-in check of the pages: createSession's (handle, email or DID, account password,
// the same login time floor), then the official OAuth rules: an app password is refused, a
// taken-down account is refused, a deactivated one may sign in. Attempts are rate limited per
// identifier and address (as createSession: 30 per 5 minutes, 300 a day) and per address.
//
// An account with email two-factor sign-in on (official 0.5.36) is not signed in by its
// password alone: the check mails a code and remembers, for this device, that the password was
// right; the page then asks for the code (checkCode), under the same limits. The password is
// never sent back to the browser to be posted again.
import { AuthFactorRequired, checkSignInFactor } from '../../actions/sign-in-factor.ts'
import type { AccountRow } from '../../account/accounts.ts'
import { EMAIL_TOKEN_TTL_MS } from '../../account/email-tokens.ts'
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
  | {
      ok: false
      status: number
      message: string
      /** The password was right and a code was mailed: ask for it. */
      factor?: { did: string; hint: string }
      /** The code step cannot finish any more: start from the password again. */
      restart?: boolean
    }

export const BAD_LOGIN_MESSAGE = 'Wrong identifier or password.'

export class SignInChecker {
  readonly #limiters: Array<{ limiter: MemoryRateLimiter; byIdentifier: boolean }>
  /** `${deviceId} ${did}` → when the password step expires: a code is awaited from that device. */
  readonly #awaitingCode = new Map<string, number>()

  constructor(
    private readonly s: Pick<CoreServices, 'accounts' | 'mailer' | 'sessions'>,
    limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS,
  ) {
    this.#limiters = [
      { limiter: new MemoryRateLimiter('oauth-sign-in-5m', 5 * 60_000, limits.perIdentifier5m), byIdentifier: true },
      { limiter: new MemoryRateLimiter('oauth-sign-in-day', 24 * 60 * 60_000, limits.perIdentifierDay), byIdentifier: true },
      { limiter: new MemoryRateLimiter('oauth-sign-in-ip-5m', 5 * 60_000, limits.perIp5m), byIdentifier: false },
    ]
  }

  #limited(identifier: string, ip: string): boolean {
    const key = `${identifier.toLowerCase()}-${ip}`
    let limited = false
    for (const { limiter, byIdentifier } of this.#limiters) {
      if (limiter.consume(byIdentifier ? key : ip, 1).exceeded) limited = true
    }
    return limited
  }

  /**
   * The password step. `deviceId` is the browser's device: with it, an account with the email
   * factor on gets a code mailed and a result carrying `factor`, and checkCode can finish the
   * sign-in from that device; without it, such an account cannot sign in here.
   */
  async check(identifier: string, password: string, ip: string, deviceId?: string): Promise<SignInResult> {
    identifier = identifier.trim()
    if (!identifier || !password) return { ok: false, status: 400, message: 'Enter your handle, email or DID and your password.' }
    if (this.#limited(identifier, ip)) return TOO_MANY
    try {
      const login = await this.s.sessions.login({ identifier, password, allowTakendown: true })
      if (login.takendown) return { ok: false, status: 403, message: 'This account was taken down.' }
      if (login.appPassword) {
        return { ok: false, status: 401, message: 'App passwords are not accepted here. Sign in with your account password.' }
      }
      if (this.s.accounts.getEmailAuthFactor(login.account.did)) {
        if (deviceId === undefined) {
          return { ok: false, status: 401, message: 'This account asks for a sign-in code: sign in from the app instead.' }
        }
        try {
          await checkSignInFactor(this.s, login.account, false, undefined)
        } catch (err) {
          if (!(err instanceof AuthFactorRequired)) throw err
          this.#sweep()
          this.#awaitingCode.set(`${deviceId} ${login.account.did}`, Date.now() + EMAIL_TOKEN_TTL_MS)
          return {
            ok: false,
            status: 401,
            message: `A sign-in code has been sent to ${err.hint}. Enter it to continue.`,
            factor: { did: login.account.did, hint: err.hint },
          }
        }
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

  /**
   * The code step, for a device whose password step for `did` succeeded in the last 15 minutes.
   * The code is the account's live `auth_factor` code, and is used up.
   */
  async checkCode(deviceId: string, did: string, code: string, ip: string): Promise<SignInResult> {
    const key = `${deviceId} ${did}`
    const until = this.#awaitingCode.get(key)
    if (until === undefined || until <= Date.now()) {
      this.#awaitingCode.delete(key)
      return { ok: false, status: 401, message: 'Sign in again: enter your password to get a new code.', restart: true }
    }
    if (this.#limited(did, ip)) return TOO_MANY
    code = code.trim()
    if (!code) return { ok: false, status: 400, message: 'Enter the code from the email.' }
    try {
      this.s.accounts.consumeEmailToken(did, 'auth_factor', code)
    } catch (err) {
      if (err instanceof XrpcError && err.error === 'ExpiredToken') {
        this.#awaitingCode.delete(key)
        return { ok: false, status: 401, message: 'This code has expired. Sign in again to get a new one.', restart: true }
      }
      if (err instanceof XrpcError && err.status < 500) {
        return { ok: false, status: 401, message: 'Wrong code. Check the latest email and try again.' }
      }
      throw err
    }
    this.#awaitingCode.delete(key)
    const account = this.s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
    if (!account) return { ok: false, status: 401, message: 'Sign in again: enter your password to get a new code.', restart: true }
    if (account.takedownRef) return { ok: false, status: 403, message: 'This account was taken down.' }
    return { ok: true, account }
  }

  #sweep(): void {
    const now = Date.now()
    for (const [k, until] of this.#awaitingCode) if (until <= now) this.#awaitingCode.delete(k)
  }
}

const TOO_MANY: SignInResult = { ok: false, status: 429, message: 'Too many sign-in attempts. Wait a few minutes and try again.' }
