// ECDSA JWT verification with node:crypto. jose v6 runs on WebCrypto, which has no secp256k1,
// yet the official client library signs DPoP proofs with ES256K first and confidential clients
// may publish secp256k1 keys for private_key_jwt and request objects (the official, on jose v5
// over node:crypto, accepts both). DPoP proofs of every EC algorithm come this way too: a
// synchronous verify is a third of WebCrypto's cost on the per-request resource path.
import { createHash, createPublicKey, type KeyObject, verify as cryptoVerify } from 'node:crypto'
import type { JWK } from 'jose'

/** A structural or claim failure; its message (never a secret) is shown to the client. */
export class JwtError extends Error {}

export interface DecodedJwt {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  signingInput: string
  signature: Buffer
}

function decodePart(part: string | undefined): Record<string, unknown> {
  if (!part) throw new JwtError('malformed JWT')
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw new JwtError('malformed JWT')
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new JwtError('malformed JWT')
  return value as Record<string, unknown>
}

export function decodeJwt(jwt: string): DecodedJwt {
  const parts = jwt.split('.')
  if (parts.length !== 3) throw new JwtError('malformed JWT')
  return {
    header: decodePart(parts[0]),
    payload: decodePart(parts[1]),
    signingInput: `${parts[0]}.${parts[1]}`,
    signature: Buffer.from(parts[2] ?? '', 'base64url'),
  }
}

/** The `alg` of a compact JWS, or undefined when it cannot be read (jose then reports the error). */
export function jwtAlg(jwt: string): unknown {
  try {
    return decodePart(jwt.split('.')[0]).alg
  } catch {
    return undefined
  }
}

const EC_ALGS = {
  ES256: { crv: 'P-256', hash: 'sha256', size: 64 },
  ES384: { crv: 'P-384', hash: 'sha384', size: 96 },
  ES512: { crv: 'P-521', hash: 'sha512', size: 132 },
  ES256K: { crv: 'secp256k1', hash: 'sha256', size: 64 },
} as const
export type EcAlg = keyof typeof EC_ALGS

export function isEcAlg(alg: unknown): alg is EcAlg {
  return typeof alg === 'string' && Object.hasOwn(EC_ALGS, alg)
}

/** A public EC JWK on the curve `alg` uses. */
export function isEcPublicJwk(jwk: unknown, alg: EcAlg): jwk is JWK {
  if (!jwk || typeof jwk !== 'object' || 'd' in jwk) return false
  const k = jwk as JWK
  return k.kty === 'EC' && k.crv === EC_ALGS[alg].crv && typeof k.x === 'string' && typeof k.y === 'string'
}

export function isK256PublicJwk(jwk: unknown): jwk is JWK {
  return isEcPublicJwk(jwk, 'ES256K')
}

// A DPoP key signs every request of its session: importing it once saves the point validation
// (about 0.2 ms for secp256k1). Bounded; the oldest entry goes first.
const KEY_CACHE_MAX = 1000
const keyCache = new Map<string, KeyObject>()

function publicKeyOf(crv: string, jwk: JWK): KeyObject {
  const id = `${crv}:${jwk.x}:${jwk.y}`
  const cached = keyCache.get(id)
  if (cached) return cached
  let key: KeyObject
  try {
    key = createPublicKey({ key: { kty: 'EC', crv, x: jwk.x, y: jwk.y }, format: 'jwk' })
  } catch {
    throw new JwtError('invalid "jwk"')
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string)
  keyCache.set(id, key)
  return key
}

/** True when `jwt`'s `alg` signature verifies under the public EC `jwk`. */
export function verifyEcSignature(jwt: DecodedJwt, alg: EcAlg, jwk: JWK): boolean {
  const { crv, hash, size } = EC_ALGS[alg]
  const key = publicKeyOf(crv, jwk)
  return jwt.signature.length === size && cryptoVerify(hash, Buffer.from(jwt.signingInput), { key, dsaEncoding: 'ieee-p1363' }, jwt.signature)
}

/** The RFC 7638 SHA-256 thumbprint of a public EC key (what jose computes, without a WebCrypto round trip). */
export function ecJwkThumbprint(jwk: JWK): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url')
}

/** A `typ` as jose compares it: case-insensitive, with an implied "application/". */
export function normalizeTyp(typ: unknown): string | undefined {
  if (typeof typ !== 'string') return undefined
  const t = typ.toLowerCase()
  return t.startsWith('application/') ? t.slice('application/'.length) : t
}

export interface ClaimChecks {
  /** Seconds of clock skew tolerated. */
  toleranceS?: number
  /** Requires iat, at most this many seconds old. */
  maxTokenAgeS?: number
  issuer?: string
  subject?: string
  /** One of the token's `aud` values must equal it. */
  audience?: string
  requiredClaims?: readonly string[]
}

/** The registered-claim checks jose's jwtVerify makes, with its wording. */
export function checkClaims(payload: Record<string, unknown>, o: ClaimChecks, now = Date.now() / 1000): void {
  const tolerance = o.toleranceS ?? 0
  for (const c of o.requiredClaims ?? []) if (payload[c] === undefined) throw new JwtError(`missing required "${c}" claim`)
  if (o.issuer !== undefined && payload.iss !== o.issuer) throw new JwtError('unexpected "iss" claim value')
  if (o.subject !== undefined && payload.sub !== o.subject) throw new JwtError('unexpected "sub" claim value')
  if (o.audience !== undefined) {
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    if (!aud.includes(o.audience)) throw new JwtError('unexpected "aud" claim value')
  }
  const { iat, exp, nbf } = payload
  if (iat !== undefined && typeof iat !== 'number') throw new JwtError('"iat" claim must be a number')
  if (o.maxTokenAgeS !== undefined) {
    if (typeof iat !== 'number') throw new JwtError('missing required "iat" claim')
    if (iat > now + tolerance) throw new JwtError('"iat" claim timestamp check failed (in the future)')
    if (now - iat > o.maxTokenAgeS + tolerance) throw new JwtError('"iat" claim timestamp check failed (too far in the past)')
  }
  if (exp !== undefined && (typeof exp !== 'number' || exp <= now - tolerance)) throw new JwtError('"exp" claim timestamp check failed')
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + tolerance)) throw new JwtError('"nbf" claim timestamp check failed')
}

/**
 * Verifies an ES256K JWT against a client's key set, choosing keys as jose's local JWK set does
 * (kid when the header names one, the key's alg and use when set); then the claim checks.
 */
export function verifyK256JwtWithKeys(
  jwt: string,
  keys: readonly unknown[],
  checks: ClaimChecks & { typ?: string },
): { header: Record<string, unknown>; payload: Record<string, unknown>; jwk: JWK } {
  const decoded = decodeJwt(jwt)
  const { header } = decoded
  if (header.alg !== 'ES256K') throw new JwtError('unexpected "alg"')
  if (checks.typ !== undefined && header.typ !== checks.typ) throw new JwtError('unexpected "typ" JWT header value')
  const kid = header.kid
  const candidates = keys.filter(
    (k): k is JWK =>
      isK256PublicJwk(k) &&
      (kid === undefined || k.kid === kid) &&
      (k.alg === undefined || k.alg === 'ES256K') &&
      (k.use === undefined || k.use === 'sig'),
  )
  if (candidates.length === 0) throw new JwtError('no applicable key found in the JSON Web Key Set')
  const jwk = candidates.find((k) => verifyEcSignature(decoded, 'ES256K', k))
  if (!jwk) throw new JwtError('signature verification failed')
  checkClaims(decoded.payload, checks)
  return { header, payload: decoded.payload, jwk }
}
