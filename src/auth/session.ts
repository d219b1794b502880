// Legacy sessions: HS256 access and refresh JWTs as the official PDS issues them, login, refresh
// rotation, and the password operations that end sessions.
//
// Tokens (identical in shape to the official's, so either server accepts the other's):
//   access:  header { typ: 'at+jwt', alg: 'HS256' },      claims { scope, aud: serviceDid, sub: did, iat, exp: iat + 120 min }
//   refresh: header { typ: 'refresh+jwt', alg: 'HS256' }, claims { scope: 'com.atproto.refresh', aud, sub, jti, iat, exp: iat + 90 days }
// with one Hearth addition: an access token carries `sid`, the id of the refresh token issued
// with it. Each use of the access token checks that this refresh token still exists, so ending
// a session (deleteSession, revokeAppPassword, a password change or reset, a takedown, account
// deletion) refuses its access tokens at once instead of up to two hours later. The official PDS
// ignores the extra claim; its own tokens (no `sid`) are accepted until they expire.
import type { KeyObject } from 'node:crypto'
import { newRefreshTokenId } from '../account/random.ts'
import type { AccountRow, CreateAccountOptions } from '../account/accounts.ts'
import type { AppPasswordInfo } from '../account/app-passwords.ts'
import type { AccountStore } from '../account/store.ts'
import { isValidAtIdentifier, isValidDid } from '../repo/syntax.ts'
import { authRequired, invalidRequest, XrpcError } from '../errors.ts'
import { hmacKey, JwtVerifyError, signHs256Jwt, verifyHs256Jwt } from './jwt.ts'
import { generateAppPassword, hashAppPassword, hashPassword, OLD_PASSWORD_MAX_LENGTH, verifyPassword } from './password.ts'
import { isAccessScope, SCOPE_REFRESH, sessionScope } from './scopes.ts'
import type { AccessScope } from '../xrpc/auth-result.ts'

export const ACCESS_TOKEN_TTL_S = 120 * 60
export const REFRESH_TOKEN_TTL_S = 90 * 24 * 60 * 60
/** Login answers no sooner than this, whatever happened, so timing tells nothing about accounts. */
export const LOGIN_FLOOR_MS = 350

export const ACCESS_TYP = 'at+jwt'
export const REFRESH_TYP = 'refresh+jwt'

export interface SessionTokens {
  accessJwt: string
  refreshJwt: string
}

export interface SessionManagerOptions {
  /** PDS_JWT_SECRET. */
  jwtSecret: string | Uint8Array
  /** The PDS's DID: the `aud` of every session token. */
  serviceDid: string
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
  /** Default LOGIN_FLOOR_MS; tests set 0. */
  loginFloorMs?: number
}

export interface VerifiedAccessToken {
  did: string
  scope: AccessScope
  /** The refresh token the access token was issued with (Hearth tokens), or null. */
  sessionId: string | null
  /** The app password the session was made with, when known (Hearth tokens). */
  appPasswordName: string | null
}

export interface VerifiedRefreshToken {
  did: string
  tokenId: string
  /** The token's exp, seconds since the epoch. */
  exp: number
}

export interface LoginResult {
  account: AccountRow
  /** The app password used, or null for the account password. */
  appPassword: AppPasswordInfo | null
  /** The account is taken down (only returned when allowTakendown). */
  takendown: boolean
}

export interface CreatedAppPassword {
  name: string
  password: string
  createdAt: string
  privileged: boolean
}

const tokenExpired = () => invalidRequest('Token has expired', 'ExpiredToken')
const tokenRevoked = () => invalidRequest('Token has been revoked', 'ExpiredToken')
const malformedToken = () => invalidRequest('Malformed token', 'InvalidToken')
const badLogin = () => authRequired('Invalid identifier or password')
const accountTakedown = () => authRequired('Account has been taken down', 'AccountTakedown')

export class SessionManager {
  readonly store: AccountStore
  readonly serviceDid: string
  readonly #key: KeyObject
  readonly #now: () => number
  readonly #loginFloorMs: number

  constructor(store: AccountStore, opts: SessionManagerOptions) {
    this.store = store
    this.serviceDid = opts.serviceDid
    this.#key = hmacKey(opts.jwtSecret)
    this.#now = opts.now ?? Date.now
    this.#loginFloorMs = opts.loginFloorMs ?? LOGIN_FLOOR_MS
  }

  #iat(): number {
    return Math.floor(this.#now() / 1000)
  }

  // Issuing
  // -------

  createAccessToken(did: string, scope: AccessScope, sessionId: string | null, iat = this.#iat()): string {
    const payload: Record<string, unknown> = { scope, aud: this.serviceDid, sub: did }
    if (sessionId !== null) payload.sid = sessionId
    payload.iat = iat
    payload.exp = iat + ACCESS_TOKEN_TTL_S
    return signHs256Jwt(ACCESS_TYP, payload, this.#key)
  }

  /** A refresh JWT and the refresh_token expiresAt that goes with it. */
  createRefreshToken(did: string, jti: string, iat = this.#iat()): { jwt: string; expiresAt: string } {
    const exp = iat + REFRESH_TOKEN_TTL_S
    const jwt = signHs256Jwt(REFRESH_TYP, { scope: SCOPE_REFRESH, aud: this.serviceDid, sub: did, jti, iat, exp }, this.#key)
    return { jwt, expiresAt: new Date(exp * 1000).toISOString() }
  }

  /**
   * A new session (createSession). A taken-down account's session gets the takendown scope and a
   * refresh token that is not stored, so it cannot be refreshed (as official).
   */
  createSession(did: string, appPassword: AppPasswordInfo | null, opts: { takendown?: boolean } = {}): SessionTokens {
    const iat = this.#iat()
    const jti = newRefreshTokenId()
    const refresh = this.createRefreshToken(did, jti, iat)
    if (opts.takendown) {
      return { accessJwt: this.createAccessToken(did, sessionScope(null, true), null, iat), refreshJwt: refresh.jwt }
    }
    this.store.storeRefreshToken({ id: jti, did, expiresAt: refresh.expiresAt, appPasswordName: appPassword?.name ?? null })
    return { accessJwt: this.createAccessToken(did, sessionScope(appPassword), jti, iat), refreshJwt: refresh.jwt }
  }

  /**
   * The first session of an account being created: the tokens, and the refresh-token row to
   * pass to AccountStore.createAccount so it is stored in the same transaction.
   */
  prepareAccountSession(did: string): SessionTokens & { refreshToken: { id: string; expiresAt: string } } {
    const iat = this.#iat()
    const jti = newRefreshTokenId()
    const refresh = this.createRefreshToken(did, jti, iat)
    return {
      accessJwt: this.createAccessToken(did, sessionScope(null), jti, iat),
      refreshJwt: refresh.jwt,
      refreshToken: { id: jti, expiresAt: refresh.expiresAt },
    }
  }

  /** Hashes the password and creates the account with its first session, in one transaction. */
  async createAccountAndSession(
    opts: Omit<CreateAccountOptions, 'passwordHash' | 'refreshToken'> & { password: string },
  ): Promise<SessionTokens> {
    const { password, ...rest } = opts
    const passwordHash = await hashPassword(password)
    const { refreshToken, ...tokens } = this.prepareAccountSession(opts.did)
    this.store.createAccount({ ...rest, passwordHash, refreshToken })
    return tokens
  }

  /**
   * refreshSession: rotates the refresh token (see AccountStore.rotateRefreshToken for the grace
   * period) and issues a new pair. Errors as official: unknown account 400 InvalidRequest,
   * taken down 401 AccountTakedown, revoked or expired 400 ExpiredToken.
   */
  refreshSession(did: string, tokenId: string): SessionTokens & { account: AccountRow } {
    const account = this.store.getAccount(did, { includeTakenDown: true, includeDeactivated: true })
    if (!account) throw invalidRequest(`Could not find user info for account: ${did}`)
    if (account.takedownRef) throw accountTakedown()
    const iat = this.#iat()
    const nextExpiresAt = new Date((iat + REFRESH_TOKEN_TTL_S) * 1000).toISOString()
    const rotated = this.store.rotateRefreshToken(tokenId, { nextExpiresAt, did })
    if (!rotated) throw tokenRevoked()
    return {
      accessJwt: this.createAccessToken(did, sessionScope(rotated.appPassword), rotated.nextId, iat),
      refreshJwt: this.createRefreshToken(did, rotated.nextId, iat).jwt,
      account,
    }
  }

  /**
   * deleteSession: ends the whole session the refresh token belongs to (every refresh token of
   * its rotation chain, and so every access token issued with any of them). `did` is the
   * refresh JWT's subject.
   */
  deleteSession(tokenId: string, did?: string): boolean {
    return this.store.revokeRefreshToken(tokenId, did)
  }

  // Verifying
  // ---------

  /**
   * Verifies a Bearer access token, with the official checks and errors (all 400): expired
   * `ExpiredToken`; bad signature, audience or shape `InvalidToken`; a scope outside `scopes`
   * `InvalidToken` "Bad token scope". Tokens with `lxm` (service auth) or `cnf` (proof of
   * possession) claims are refused. A Hearth token whose session has ended is `ExpiredToken`
   * "Token has been revoked", so clients try a refresh, which then fails and asks for a login.
   */
  verifyAccessToken(token: string, scopes: readonly string[]): VerifiedAccessToken {
    const { payload } = this.#verify(token, ACCESS_TYP, scopes, false)
    const sid = payload.sid
    if (sid !== undefined && typeof sid !== 'string') throw malformedToken()
    const did = payload.sub as string
    let appPasswordName: string | null = null
    if (sid !== undefined) {
      const session = this.store.getSession(sid)
      if (!session || session.did !== did) throw tokenRevoked()
      appPasswordName = session.appPasswordName
    }
    return { did, scope: payload.scope as AccessScope, sessionId: sid ?? null, appPasswordName }
  }

  /** Verifies a Bearer refresh token (signature and claims only: the handler checks the row). */
  verifyRefreshToken(token: string, opts: { allowExpired?: boolean } = {}): VerifiedRefreshToken {
    const { payload } = this.#verify(token, REFRESH_TYP, [SCOPE_REFRESH], opts.allowExpired ?? false)
    if (typeof payload.jti !== 'string') {
      throw new XrpcError(401, 'MissingTokenId', 'Unexpected missing refresh token id')
    }
    return { did: payload.sub as string, tokenId: payload.jti, exp: payload.exp as number }
  }

  #verify(token: string, typ: string, scopes: readonly string[], allowExpired: boolean) {
    let jwt
    try {
      jwt = verifyHs256Jwt(token, this.#key, { audience: this.serviceDid, now: this.#iat(), allowExpired })
    } catch (err) {
      if (err instanceof JwtVerifyError && err.reason === 'expired') throw tokenExpired()
      throw invalidRequest('Token could not be verified', 'InvalidToken')
    }
    // The official PDS lets a token without `typ` through (for its entryway's tokens); every
    // token either server issues has one, so Hearth requires it.
    if (jwt.header.typ !== typ) throw invalidRequest('Invalid token type', 'InvalidToken')
    const { sub, aud, scope, jti } = jwt.payload
    if (jwt.payload.lxm !== undefined || jwt.payload.cnf !== undefined) throw malformedToken()
    if (typeof sub !== 'string' || !isValidDid(sub)) throw malformedToken()
    if (typeof aud !== 'string' || !aud.startsWith('did:')) throw malformedToken()
    if (jti !== undefined && typeof jti !== 'string') throw malformedToken()
    const known = scope === SCOPE_REFRESH || isAccessScope(scope)
    if (!known || !scopes.includes(scope as string)) throw invalidRequest('Bad token scope', 'InvalidToken')
    return jwt
  }

  // Passwords and login
  // -------------------

  /**
   * createSession's credential check, as official: the identifier is lower-cased and looked up
   * as an email when it contains `@`, else as a handle or DID; the password is tried as the
   * account password, then as an app password (not for a taken-down account). Any failure is
   * 401 "Invalid identifier or password", and the answer takes at least loginFloorMs. A
   * password over 512 characters is refused before anything else; a taken-down account gets
   * 401 AccountTakedown unless allowTakendown.
   */
  async login(opts: { identifier: string; password: string; allowTakendown?: boolean }): Promise<LoginResult> {
    if (opts.password.length > OLD_PASSWORD_MAX_LENGTH) {
      throw authRequired('Password too long. Consider resetting your password.')
    }
    const start = Date.now()
    try {
      const identifier = opts.identifier.toLowerCase()
      const all = { includeTakenDown: true, includeDeactivated: true }
      const account = identifier.includes('@')
        ? this.store.getAccountByEmail(identifier, all)
        : isValidAtIdentifier(identifier)
          ? this.store.getAccount(identifier, all)
          : null
      if (!account) throw badLogin()
      const takendown = !!account.takedownRef
      let appPassword: AppPasswordInfo | null = null
      if (!(await this.verifyAccountPassword(account.did, opts.password))) {
        if (takendown) throw badLogin() // no app-password logins into a taken-down account
        // No second hash for an account without app passwords: it halves what a wrong password
        // costs the server, and the login floor keeps the answer's timing the same.
        if (this.store.listAppPasswords(account.did).length === 0) throw badLogin()
        appPassword = await this.verifyAppPassword(account.did, opts.password)
        if (!appPassword) throw badLogin()
      }
      if (takendown && !opts.allowTakendown) throw accountTakedown()
      return { account, appPassword, takendown }
    } finally {
      const wait = this.#loginFloorMs - (Date.now() - start)
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  async verifyAccountPassword(did: string, password: string): Promise<boolean> {
    const stored = this.store.getPasswordHash(did)
    return stored !== null && (await verifyPassword(password, stored))
  }

  async verifyAppPassword(did: string, password: string): Promise<AppPasswordInfo | null> {
    return this.store.findAppPassword(did, await hashAppPassword(did, password))
  }

  /** createAppPassword: a new `xxxx-xxxx-xxxx-xxxx` password, returned once, stored hashed. */
  async createAppPassword(did: string, name: string, privileged: boolean): Promise<CreatedAppPassword> {
    const password = generateAppPassword()
    const passwordHash = await hashAppPassword(did, password)
    const row = this.store.createAppPassword({ did, name, passwordHash, privileged })
    return { name: row.name, password, createdAt: row.createdAt, privileged: row.privileged }
  }

  /** Sets the account password (admin.updateAccountPassword); every session ends. Length checks are the caller's. */
  async setPassword(did: string, password: string): Promise<void> {
    this.store.updatePassword(did, await hashPassword(password))
  }

  /** resetPassword: the token names the account; it works once; every session ends. Returns the DID. */
  async resetPassword(token: string, password: string): Promise<string> {
    this.store.findDidByEmailToken('reset_password', token) // refuse a bad token before hashing
    const passwordHash = await hashPassword(password)
    return this.store.resetPassword(token, passwordHash)
  }
}
