// JSON Web Tokens, the two kinds a PDS handles, with node:crypto and the repo core's keys (no
// JOSE dependency):
// - HS256 session tokens (access and refresh), signed with PDS_JWT_SECRET. Only HS256 is
//   accepted: `alg: none`, other HMAC sizes and asymmetric algorithms are refused, and the
//   signature is compared in constant time.
// - ES256K / ES256 service-auth tokens, signed by an account's repo key: minted for proxying and
//   getServiceAuth, verified for inbound service auth with the official xrpc-server's checks and
//   error names (BadJwt, BadJwtType, JwtExpired, BadJwtAudience, BadJwtLexiconMethod, BadJwtIss,
//   BadJwtSignature), the issuer's key re-resolved once when a signature does not verify.
import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Keypair } from '../repo/crypto/index.ts'
import { verifySignature } from '../repo/crypto/index.ts'
import { isValidDid } from '../repo/syntax.ts'
import { authRequired, XrpcError } from '../errors.ts'

export type JwtHeader = { alg: string; typ?: string } & Record<string, unknown>
export type JwtPayload = Record<string, unknown>

export interface DecodedJwt {
  header: JwtHeader
  payload: JwtPayload
  /** `<header>.<payload>` as received: the bytes the signature covers. */
  signingInput: string
  signature: Buffer
}

/** Larger than any token a PDS issues or accepts; bounds the work spent on garbage. */
const MAX_TOKEN_LENGTH = 16 * 1024
const B64URL = /^[A-Za-z0-9_-]+$/

function b64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

function decodeB64url(part: string): Buffer | null {
  // Buffer's decoder skips characters it does not know; check the alphabet and length first.
  if (!B64URL.test(part) || part.length % 4 === 1) return null
  return Buffer.from(part, 'base64url')
}

function parseJsonObject(part: string): Record<string, unknown> | null {
  const bytes = decodeB64url(part)
  if (!bytes) return null
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    return null
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null
}

/** Splits and decodes a compact JWS without verifying it; null when it is not well formed. */
export function decodeJwt(token: string): DecodedJwt | null {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null
  const parts = token.split('.')
  if (parts.length !== 3) return null
  const header = parseJsonObject(parts[0])
  const payload = parseJsonObject(parts[1])
  const signature = decodeB64url(parts[2])
  if (!header || !payload || !signature || typeof header.alg !== 'string') return null
  return { header: header as JwtHeader, payload, signingInput: `${parts[0]}.${parts[1]}`, signature }
}

// HS256 session tokens
// --------------------

/** The HMAC key from PDS_JWT_SECRET (its UTF-8 bytes, as the official PDS uses it). */
export function hmacKey(secret: string | Uint8Array): KeyObject {
  return createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret))
}

function hmac(key: KeyObject, input: string): Buffer {
  return createHmac('sha256', key).update(input, 'utf8').digest()
}

/** Signs `payload` with HS256 under the header `{ typ, alg: 'HS256' }`. */
export function signHs256Jwt(typ: string, payload: JwtPayload, key: KeyObject): string {
  const input = `${b64urlJson({ typ, alg: 'HS256' })}.${b64urlJson(payload)}`
  return `${input}.${hmac(key, input).toString('base64url')}`
}

export class JwtVerifyError extends Error {
  constructor(
    /** `expired`: a valid token past its exp; `invalid`: anything else. */
    readonly reason: 'expired' | 'invalid',
    message: string,
  ) {
    super(message)
    this.name = 'JwtVerifyError'
  }
}

export interface Hs256VerifyOptions {
  /** The `aud` the token must name (a string equal to it, or an array containing it). */
  audience: string
  /** Seconds since the epoch; default now. */
  now?: number
  /** Accept a token however long ago it expired (deleteSession). */
  allowExpired?: boolean
}

/**
 * Tokens whose signature checked out, per key: a client sends the same access token with every
 * request, and decoding it and computing its HMAC were most of what checking it cost. Only that
 * much is remembered (a pure function of the token and the key): the claims below are checked on
 * every call, and revocation is the caller's session lookup, also on every call. A few hundred
 * bytes per token, a bounded number.
 */
const signedTokens = new WeakMap<KeyObject, Map<string, DecodedJwt>>()
const SIGNED_TOKENS_KEPT = 1000

/**
 * Verifies an HS256 token's signature and registered claims, in the order jose (the official
 * PDS's library) checks them: signature, aud, iat, nbf, exp. `exp` is required (every session
 * token either server issues has one). Throws JwtVerifyError.
 */
export function verifyHs256Jwt(token: string, key: KeyObject, opts: Hs256VerifyOptions): DecodedJwt {
  let known = signedTokens.get(key)
  let jwt = known?.get(token)
  if (jwt === undefined) {
    jwt = decodeJwt(token) ?? undefined
    if (!jwt) throw new JwtVerifyError('invalid', 'malformed token')
    if (jwt.header.alg !== 'HS256') throw new JwtVerifyError('invalid', 'unsupported alg')
    if (jwt.header.crit !== undefined) throw new JwtVerifyError('invalid', 'unsupported crit header')
    const expected = hmac(key, jwt.signingInput)
    if (jwt.signature.length !== expected.length || !timingSafeEqual(jwt.signature, expected)) {
      throw new JwtVerifyError('invalid', 'signature verification failed')
    }
    if (!known) signedTokens.set(key, (known = new Map()))
    if (known.size >= SIGNED_TOKENS_KEPT) known.clear()
    known.set(token, jwt)
  }
  const { payload } = jwt
  const aud = payload.aud
  if (!(aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience)))) {
    throw new JwtVerifyError('invalid', 'unexpected "aud" claim value')
  }
  const now = opts.now ?? Math.floor(Date.now() / 1000)
  if (payload.iat !== undefined && typeof payload.iat !== 'number') throw new JwtVerifyError('invalid', '"iat" claim must be a number')
  if (payload.nbf !== undefined) {
    if (typeof payload.nbf !== 'number') throw new JwtVerifyError('invalid', '"nbf" claim must be a number')
    if (!opts.allowExpired && payload.nbf > now) throw new JwtVerifyError('invalid', '"nbf" claim timestamp check failed')
  }
  if (typeof payload.exp !== 'number') throw new JwtVerifyError('invalid', '"exp" claim must be a number')
  if (!opts.allowExpired && payload.exp <= now) throw new JwtVerifyError('expired', '"exp" claim timestamp check failed')
  return jwt
}

// ES256K / ES256 service-auth tokens
// ----------------------------------

export interface ServiceJwtPayload {
  iss: string
  aud: string
  exp: number
  iat?: number
  lxm?: string
  jti?: string
  nonce?: string
  [claim: string]: unknown
}

export interface CreateServiceJwtOptions {
  /** The issuer: the account's DID (or `did#service`). */
  iss: string
  /** The audience: a service DID, optionally with `#service_id`. */
  aud: string
  /** The one method the token authorises. */
  lxm?: string | null
  /** Seconds since the epoch; default now. */
  iat?: number
  /** Seconds since the epoch; default iat + 60. */
  exp?: number
  keypair: Keypair
}

/** A service-auth JWT as @atproto/xrpc-server's createServiceJwt makes it (random 128-bit hex jti). */
export function createServiceJwt(opts: CreateServiceJwtOptions): string {
  const iat = opts.iat ?? Math.floor(Date.now() / 1000)
  const exp = opts.exp ?? iat + 60
  const payload: Record<string, unknown> = { iat, iss: opts.iss, aud: opts.aud, exp }
  if (opts.lxm != null) payload.lxm = opts.lxm
  payload.jti = randomBytes(16).toString('hex')
  const input = `${b64urlJson({ typ: 'JWT', alg: opts.keypair.jwtAlg })}.${b64urlJson(payload)}`
  const sig = opts.keypair.sign(Buffer.from(input, 'utf8'))
  return `${input}.${Buffer.from(sig).toString('base64url')}`
}

/**
 * Resolves the did:key that signs for `iss` (a DID, or `did#service`); `forceRefresh` asks for a
 * fresh DID document after a signature failed against the cached one. Null when there is none.
 * May throw an XrpcError to refuse with its own message.
 */
export type ResolveSigningKey = (iss: string, forceRefresh: boolean) => Promise<string | null> | string | null

export interface VerifyServiceJwtOptions {
  /** Accepted audiences; null skips the check. */
  aud: string | readonly string[] | null
  /** The method being called; null skips the check. */
  lxm: string | null
  resolveSigningKey: ResolveSigningKey
  /** Seconds since the epoch; default now. */
  now?: number
}

const SERVICE_ALGS: ReadonlySet<string> = new Set(['ES256K', 'ES256'])
const NOT_SERVICE_TYPES: ReadonlySet<string> = new Set(['at+jwt', 'refresh+jwt', 'dpop+jwt'])

const badJwt = (message: string, error: string) => new XrpcError(401, error, message)

/** Verifies an inbound service-auth JWT; throws 401 XrpcErrors named as the official ones. */
export async function verifyServiceJwt(token: string, opts: VerifyServiceJwtOptions): Promise<ServiceJwtPayload> {
  const jwt = decodeJwt(token)
  if (!jwt) throw badJwt('poorly formatted jwt', 'BadJwt')
  const { header } = jwt
  if (typeof header.typ === 'string' && NOT_SERVICE_TYPES.has(header.typ)) {
    throw badJwt(`Invalid jwt type "${header.typ}"`, 'BadJwtType')
  }
  const p = jwt.payload
  if (
    typeof p.iss !== 'string' ||
    typeof p.aud !== 'string' ||
    typeof p.exp !== 'number' ||
    (p.lxm !== undefined && typeof p.lxm !== 'string') ||
    (p.nonce !== undefined && typeof p.nonce !== 'string')
  ) {
    throw badJwt('poorly formatted jwt', 'BadJwt')
  }
  const payload = p as ServiceJwtPayload
  const now = opts.now ?? Date.now() / 1000
  if (now > payload.exp) throw badJwt('jwt expired', 'JwtExpired')
  if (opts.aud !== null) {
    const accepted = typeof opts.aud === 'string' ? [opts.aud] : opts.aud
    if (!accepted.includes(payload.aud)) throw badJwt('jwt audience does not match service did', 'BadJwtAudience')
  }
  if (opts.lxm !== null && payload.lxm !== opts.lxm) {
    throw badJwt(
      payload.lxm !== undefined
        ? `bad jwt lexicon method ("lxm"). must match: ${opts.lxm}`
        : `missing jwt lexicon method ("lxm"). must match: ${opts.lxm}`,
      'BadJwtLexiconMethod',
    )
  }
  if (!isDidOrDidService(payload.iss)) throw badJwt('jwt iss is not a valid did', 'BadJwtIss')
  if (!SERVICE_ALGS.has(header.alg)) throw badJwt('could not verify jwt signature', 'BadJwtSignature')

  const msg = Buffer.from(jwt.signingInput, 'utf8')
  const check = (didKey: string | null) =>
    didKey !== null && verifySignature(didKey, msg, jwt.signature, { jwtAlg: header.alg as 'ES256K' | 'ES256', allowMalleableSig: true })
  const key = await resolveKey(opts.resolveSigningKey, payload.iss, false)
  if (!check(key)) {
    // The issuer may have rotated its key since its DID document was cached.
    const fresh = await resolveKey(opts.resolveSigningKey, payload.iss, true)
    if (fresh === key || !check(fresh)) throw badJwt('jwt signature does not match jwt issuer', 'BadJwtSignature')
  }
  return payload
}

async function resolveKey(resolve: ResolveSigningKey, iss: string, forceRefresh: boolean): Promise<string | null> {
  try {
    return await resolve(iss, forceRefresh)
  } catch (err) {
    if (err instanceof XrpcError) throw err
    throw authRequired('could not resolve iss did')
  }
}

function isDidOrDidService(value: string): boolean {
  const hash = value.indexOf('#')
  if (hash === -1) return isValidDid(value)
  if (hash === value.length - 1 || value.includes('#', hash + 1)) return false
  return isValidDid(value.slice(0, hash))
}
