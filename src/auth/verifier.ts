// The auth verifiers a method declares (src/xrpc/types.ts AuthVerifier), matching the official
// PDS's auth-verifier.ts mode for mode, error for error:
//
//   none                     no auth; the Authorization header is not looked at (official methods without `auth`)
//   unauthenticated          no auth, and any Authorization header is refused (401)
//   access(opts)             Bearer access token (`authorization()`): scopes default ACCESS_STANDARD,
//                            `additional` adds e.g. the takendown scope, checkTakedown/checkDeactivated
//                            look the account up; DPoP goes to the OAuth verifier when one is plugged in
//   accessStandard / accessPrivileged / accessFull   the common access(opts) presets
//   optional(opts)           Bearer/DPoP → access(opts), Basic → admin, nothing → none (`authorizationOrAdminTokenOptional`)
//   refresh(opts)            Bearer refresh token; allowExpired for deleteSession
//   admin                    Basic `admin:<PDS_ADMIN_PASSWORD>` (`adminToken`)
//   moderator                Bearer → service JWT from PDS_MOD_SERVICE_DID, else admin
//   userServiceAuth          service JWT: aud = this PDS, lxm = the called method, signed by the issuer's key
//   userServiceAuthOptional  Bearer → userServiceAuth, nothing → none
//   accessOrUserServiceAuth(opts)  a Bearer token with an `lxm` claim → userServiceAuth, else access(opts) (uploadBlob)
//
// Errors, as official: no credentials 401 AuthMissing; a malformed header or an unsupported
// type 400 InvalidToken; an expired access token 400 ExpiredToken; a bad token or scope 400
// InvalidToken; checkTakedown 401 AccountTakedown, checkDeactivated 401 AccountDeactivated,
// unknown account 403 AccountNotFound; bad admin credentials 401 AuthenticationRequired;
// service-auth failures 401 with the xrpc-server names (see jwt.ts).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { AccountStore } from '../account/store.ts'
import type { DidDocument } from '../identity/did-doc.ts'
import { getSigningKey } from '../identity/did-doc.ts'
import { authRequired, forbidden, invalidRequest, XrpcError } from '../errors.ts'
import type { AuthVerifier, XrpcRequestInfo } from '../xrpc/types.ts'
import { decodeJwt, type ResolveSigningKey, verifyServiceJwt } from './jwt.ts'
import { ACCESS_FULL, ACCESS_PRIVILEGED, ACCESS_STANDARD, SCOPE_TAKENDOWN } from './scopes.ts'
import { SessionManager } from './session.ts'
import type { AccessAuth, AccessScope, RefreshAuth, ServiceAuth } from '../xrpc/auth-result.ts'

export type NoneAuth = { kind: 'none' }
export type AdminAuth = { kind: 'admin' }

export interface AccessOptions {
  /** Scopes accepted (default ACCESS_STANDARD: any session of the account). */
  scopes?: readonly AccessScope[]
  /** More scopes accepted besides, e.g. com.atproto.takendown. */
  additional?: readonly AccessScope[]
  /** Refuse a taken-down account (and the takendown scope) with 401 AccountTakedown. */
  checkTakedown?: boolean
  /** Refuse a deactivated account with 401 AccountDeactivated. */
  checkDeactivated?: boolean
}

/** Verifies a DPoP-bound OAuth request (planned); given the method's access options. */
export type OAuthVerifier = (info: XrpcRequestInfo, opts: AccessOptions) => Promise<AccessAuth>

export interface AuthVerifiersOptions {
  /** PDS_JWT_SECRET. */
  jwtSecret: string | Uint8Array
  /** PDS_SERVICE_DID: the audience of session and inbound service tokens. */
  serviceDid: string
  /** PDS_ADMIN_PASSWORD; without one, admin auth always fails. */
  adminPassword: string | null | undefined
  store: AccountStore
  /** The did:key that signs for a service-auth issuer (see didDocSigningKeyResolver). */
  resolveSigningKey: ResolveSigningKey
  /** PDS_MOD_SERVICE_DID: whose service JWTs `moderator` accepts. */
  modServiceDid?: string | null
  /** The OAuth resource-server check, once OAuth exists; without it DPoP is refused. */
  oauth?: OAuthVerifier
  /** A SessionManager to share (else one is made from jwtSecret/serviceDid/store). */
  sessions?: SessionManager
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
}

type AuthType = 'Basic' | 'Bearer' | 'DPoP'
const AUTH_TYPES: Readonly<Record<string, AuthType>> = { BASIC: 'Basic', BEARER: 'Bearer', DPOP: 'DPoP' }

/** The Authorization header's type and credentials; null without one. Throws 400 InvalidToken when unusable. */
export function parseAuthorization(req: IncomingMessage): { type: AuthType; value: string } | null {
  const header = req.headers.authorization
  if (!header) return null
  const parts = header.split(' ')
  if (parts.length !== 2) throw invalidRequest('Malformed authorization header', 'InvalidToken')
  const type = Object.hasOwn(AUTH_TYPES, parts[0].toUpperCase()) ? AUTH_TYPES[parts[0].toUpperCase()] : undefined
  if (!type) throw invalidRequest(`Unsupported authorization type: ${parts[0].slice(0, 32)}`, 'InvalidToken')
  return { type, value: parts[1] }
}

const authMissing = () => authRequired('Authentication Required', 'AuthMissing')
const unexpectedType = () => invalidRequest('Unexpected authorization type', 'InvalidToken')

export class AuthVerifiers {
  readonly sessions: SessionManager
  readonly #store: AccountStore
  readonly #serviceDid: string
  readonly #adminPasswordDigest: Buffer | null
  readonly #resolveSigningKey: ResolveSigningKey
  readonly #modServiceDid: string | null
  readonly #oauth: OAuthVerifier | undefined
  readonly #now: () => number

  readonly none: AuthVerifier<NoneAuth>
  readonly unauthenticated: AuthVerifier<NoneAuth>
  readonly accessStandard: AuthVerifier<AccessAuth>
  readonly accessPrivileged: AuthVerifier<AccessAuth>
  readonly accessFull: AuthVerifier<AccessAuth>
  readonly admin: AuthVerifier<AdminAuth>
  readonly moderator: AuthVerifier<AdminAuth | ServiceAuth>
  readonly userServiceAuth: AuthVerifier<ServiceAuth>
  readonly userServiceAuthOptional: AuthVerifier<ServiceAuth | NoneAuth>

  constructor(opts: AuthVerifiersOptions) {
    this.#store = opts.store
    this.#serviceDid = opts.serviceDid
    this.#now = opts.now ?? Date.now
    this.sessions =
      opts.sessions ?? new SessionManager(opts.store, { jwtSecret: opts.jwtSecret, serviceDid: opts.serviceDid, now: this.#now })
    this.#adminPasswordDigest = opts.adminPassword ? digest(opts.adminPassword) : null
    this.#resolveSigningKey = opts.resolveSigningKey
    this.#modServiceDid = opts.modServiceDid ?? null
    this.#oauth = opts.oauth

    this.none = () => ({ kind: 'none' })
    this.unauthenticated = ({ req }) => {
      // Used where no other mode applied: a header here is one nothing could accept.
      if (req.headers.authorization) throw authRequired('Invalid authorization header')
      return { kind: 'none' }
    }
    this.accessStandard = this.access({ scopes: ACCESS_STANDARD })
    this.accessPrivileged = this.access({ scopes: ACCESS_PRIVILEGED })
    this.accessFull = this.access({ scopes: ACCESS_FULL })
    this.admin = ({ req }) => this.#admin(req)
    this.moderator = async (info) => {
      const auth = parseAuthorization(info.req)
      if (auth?.type === 'Bearer') return this.#modService(info, auth.value)
      return this.#admin(info.req)
    }
    this.userServiceAuth = async (info) => {
      const auth = parseAuthorization(info.req)
      if (auth?.type !== 'Bearer') throw authRequired('missing jwt', 'MissingJwt')
      return this.#userService(info, auth.value)
    }
    this.userServiceAuthOptional = async (info) => {
      const auth = parseAuthorization(info.req)
      if (auth?.type === 'Bearer') return this.#userService(info, auth.value)
      return this.unauthenticated(info)
    }
  }

  /** An access-token verifier with the official `authorization({...})` options. */
  access(opts: AccessOptions = {}): AuthVerifier<AccessAuth> {
    let scopes: readonly AccessScope[] = [...(opts.scopes ?? ACCESS_STANDARD), ...(opts.additional ?? [])]
    // As official: checkTakedown refuses the takendown scope outright, whatever was added.
    if (opts.checkTakedown) scopes = scopes.filter((s) => s !== SCOPE_TAKENDOWN)
    // Not async: a session token is checked synchronously (its signature remembered, its session
    // row read), and a promise would cost every write a microtask turn for nothing. Only the
    // OAuth check returns one. Refusals are thrown; the router takes both alike.
    return (info) => {
      const auth = parseAuthorization(info.req)
      if (auth === null) throw authMissing()
      if (auth.type === 'Bearer') {
        const verified = this.sessions.verifyAccessToken(auth.value, scopes)
        this.#checkStatus(verified.did, opts)
        return { kind: 'access', did: verified.did, scope: verified.scope, appPasswordName: verified.appPasswordName }
      }
      if (auth.type === 'DPoP' && this.#oauth) return this.#oauth(info, opts)
      throw unexpectedType()
    }
  }

  /** authorizationOrAdminTokenOptional: access when a token is given, admin for Basic, none without. */
  optional(opts: AccessOptions = {}): AuthVerifier<AccessAuth | AdminAuth | NoneAuth> {
    const access = this.access(opts)
    return async (info) => {
      const auth = parseAuthorization(info.req)
      if (auth === null) return { kind: 'none' }
      if (auth.type === 'Basic') return this.#admin(info.req)
      return access(info)
    }
  }

  /** A token with an `lxm` claim is service auth; anything else goes to access(opts) (uploadBlob). */
  accessOrUserServiceAuth(opts: AccessOptions = {}): AuthVerifier<AccessAuth | ServiceAuth> {
    const access = this.access(opts)
    return async (info) => {
      const auth = parseAuthorization(info.req)
      if (auth?.type === 'Bearer' && decodeJwt(auth.value)?.payload.lxm != null) return this.#userService(info, auth.value)
      return access(info)
    }
  }

  /** A refresh-token verifier; allowExpired accepts any past exp (deleteSession). */
  refresh(opts: { allowExpired?: boolean } = {}): AuthVerifier<RefreshAuth> {
    return ({ req }) => {
      const auth = parseAuthorization(req)
      if (auth?.type !== 'Bearer') throw authMissing()
      const verified = this.sessions.verifyRefreshToken(auth.value, opts)
      const row = this.#store.getSession(verified.tokenId)
      return {
        kind: 'refresh',
        did: verified.did,
        tokenId: verified.tokenId,
        appPasswordName: row?.appPasswordName ?? null,
        expiresAt: verified.exp * 1000,
      }
    }
  }

  #checkStatus(did: string, opts: AccessOptions): void {
    if (!opts.checkTakedown && !opts.checkDeactivated) return
    // The state columns alone (one table, no join with "account"): this runs on every request
    // whose method checks the account's state.
    const account = this.#store.getAccountState(did, { includeTakenDown: true, includeDeactivated: true })
    if (!account) throw forbidden('Account not found', 'AccountNotFound')
    if (opts.checkTakedown && account.takedownRef) throw authRequired('Account has been taken down', 'AccountTakedown')
    if (opts.checkDeactivated && account.deactivatedAt) throw authRequired('Account is deactivated', 'AccountDeactivated')
  }

  #admin(req: IncomingMessage): AdminAuth {
    let credentials: { username: string; password: string } | null = null
    try {
      credentials = parseBasic(req)
    } catch {
      // As official: any unusable header is simply not admin credentials.
    }
    if (
      credentials === null ||
      this.#adminPasswordDigest === null ||
      // Both sides compared in full, in constant time, whatever the username.
      !(timingSafeEqual(digest(credentials.password), this.#adminPasswordDigest) && credentials.username === 'admin')
    ) {
      throw authRequired()
    }
    return { kind: 'admin' }
  }

  async #userService(info: XrpcRequestInfo, token: string): Promise<ServiceAuth> {
    const payload = await verifyServiceJwt(token, {
      aud: this.#serviceDid,
      lxm: info.nsid,
      resolveSigningKey: this.#resolveSigningKey,
      now: this.#now() / 1000,
    })
    return serviceAuth(payload)
  }

  async #modService(info: XrpcRequestInfo, token: string): Promise<ServiceAuth> {
    const mod = this.#modServiceDid
    if (!mod) throw authRequired('Untrusted issuer', 'UntrustedIss')
    const allowed = [mod, `${mod}#atproto_labeler`]
    const payload = await verifyServiceJwt(token, {
      aud: this.#serviceDid,
      lxm: info.nsid,
      resolveSigningKey: (iss, forceRefresh) => {
        if (!allowed.includes(iss)) throw authRequired('Untrusted issuer', 'UntrustedIss')
        return this.#resolveSigningKey(iss, forceRefresh)
      },
      now: this.#now() / 1000,
    })
    return serviceAuth(payload)
  }
}

function serviceAuth(payload: { iss: string; aud: string; lxm?: string }): ServiceAuth {
  const hash = payload.iss.indexOf('#')
  return {
    kind: 'service',
    iss: payload.iss,
    did: hash === -1 ? payload.iss : payload.iss.slice(0, hash),
    aud: payload.aud,
    lxm: payload.lxm ?? null,
  }
}

function parseBasic(req: IncomingMessage): { username: string; password: string } | null {
  const auth = parseAuthorization(req)
  if (auth?.type !== 'Basic') return null
  const decoded = Buffer.from(auth.value, 'base64').toString('utf8')
  const colon = decoded.indexOf(':') // the password may itself contain colons
  if (colon === -1) return null
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/**
 * A ResolveSigningKey over a DID resolver, as the official verifier resolves issuers: `did#…`
 * picks the key (`#atproto_labeler` → `#atproto_label`, anything else → `#atproto`); a DID
 * that does not resolve, or has no usable key, is 401.
 */
export function didDocSigningKeyResolver(resolver: {
  resolve(did: string, forceRefresh?: boolean): Promise<DidDocument | null>
}): ResolveSigningKey {
  return async (iss, forceRefresh) => {
    const [did, serviceId] = iss.split('#')
    const keyId = serviceId === 'atproto_labeler' ? 'atproto_label' : 'atproto'
    let doc: DidDocument | null
    try {
      doc = await resolver.resolve(did, forceRefresh)
    } catch (err) {
      if (err instanceof XrpcError) throw err
      throw authRequired('could not resolve iss did')
    }
    if (!doc) throw authRequired('could not resolve iss did')
    const key = getSigningKey(doc, keyId)
    if (!key) throw authRequired('missing or bad key in did doc')
    return key
  }
}
