// DPoP proofs (RFC 9449) and the server nonces that bound their freshness. The nonce scheme is
// the official one (HMAC-SHA256 of a rotation counter under PDS_DPOP_SECRET, one-minute
// rotation, previous/current/next accepted), so nonces stay valid across a switch between the
// two implementations sharing a secret.
import { createHash, createHmac, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { calculateJwkThumbprint, EmbeddedJWK, errors as joseErrors, type JWK, jwtVerify } from 'jose'
import { invalidDpopProof, UseDpopNonceError, VERIFY_ALGOS } from './errors.ts'
import { ReplayCache } from './replay.ts'

/** How long a nonce (and so a proof) stays acceptable: 3 minutes, as official. */
export const DPOP_NONCE_MAX_AGE_MS = 3 * 60_000
const ROTATION_MS = DPOP_NONCE_MAX_AGE_MS / 3

export class DpopNonce {
  readonly #secret: Buffer
  readonly #now: () => number
  #counter = Number.NaN
  #prev = ''
  #cur = ''
  #next = ''

  constructor(secret: string | null, now: () => number = Date.now) {
    this.#secret = secret && /^[0-9a-f]{64}$/i.test(secret) ? Buffer.from(secret, 'hex') : randomBytes(32)
    this.#now = now
    this.#rotate()
  }

  #compute(counter: number): string {
    const buf = Buffer.alloc(8)
    buf.writeBigInt64BE(BigInt(counter))
    return createHmac('sha256', this.#secret).update(buf).digest('base64url')
  }

  #rotate(): void {
    const counter = Math.floor(this.#now() / ROTATION_MS)
    if (counter === this.#counter) return
    this.#counter = counter
    this.#prev = this.#compute(counter - 1)
    this.#cur = this.#compute(counter)
    this.#next = this.#compute(counter + 1)
  }

  /** The nonce to hand out now (the upcoming one, so it lives longest). */
  next(): string {
    this.#rotate()
    return this.#next
  }

  check(nonce: string): boolean {
    this.#rotate()
    return nonce === this.#next || nonce === this.#cur || nonce === this.#prev
  }
}

export interface DpopProof {
  jti: string
  /** SHA-256 JWK thumbprint of the proof key: what tokens are bound to (cnf.jkt). */
  jkt: string
  htm: string
  htu: string
}

/** The request URL as `htu` compares: origin + normalized path, no query or fragment. */
export function normalizeHtu(url: URL): string {
  return url.origin + url.pathname
}

export class DpopVerifier {
  readonly nonces: DpopNonce
  readonly #replay = new ReplayCache()

  constructor(secret: string | null, now: () => number = Date.now) {
    this.nonces = new DpopNonce(secret, now)
  }

  /**
   * Checks the request's DPoP header; null when there is none. `accessToken` is given on
   * resource requests (the proof must then carry its `ath`). Throws invalid_dpop_proof (401)
   * or UseDpopNonceError.
   */
  async check(method: string, url: URL, headers: IncomingHttpHeaders, accessToken?: string): Promise<DpopProof | null> {
    const header = headers.dpop
    if (header === undefined) return null
    if (Array.isArray(header) || header === '') throw invalidDpopProof('DPoP header must contain a single proof')
    let payload: Record<string, unknown>
    let jwk: JWK
    try {
      if (jwsAlg(header) === 'ES256K') {
        ;({ payload, jwk } = verifyEs256kProof(header, DPOP_NONCE_MAX_AGE_MS / 1000))
      } else {
        const verified = await jwtVerify(header, EmbeddedJWK, {
          typ: 'dpop+jwt',
          algorithms: [...VERIFY_ALGOS],
          // Requires iat, at most 10 s old, with the nonce lifetime as the clock tolerance.
          maxTokenAge: 10,
          clockTolerance: DPOP_NONCE_MAX_AGE_MS / 1000,
        })
        payload = verified.payload as Record<string, unknown>
        jwk = verified.protectedHeader.jwk as JWK
      }
    } catch (err) {
      const detail = err instanceof joseErrors.JOSEError || err instanceof ProofError ? `: ${err.message}` : ''
      throw invalidDpopProof(`Failed to verify DPoP proof${detail}`)
    }
    const { jti, htm, htu, nonce, ath } = payload
    if (nonce !== undefined && typeof nonce !== 'string') throw invalidDpopProof('Invalid DPoP "nonce" type')
    if (typeof jti !== 'string' || !jti) throw invalidDpopProof('DPoP "jti" missing')
    if (htm !== method) throw invalidDpopProof('DPoP "htm" mismatch')
    if (typeof htu !== 'string') throw invalidDpopProof('Invalid DPoP "htu" type')
    let htuUrl: URL
    try {
      htuUrl = new URL(htu)
    } catch {
      throw invalidDpopProof('DPoP "htu" is not a valid URL')
    }
    if (htuUrl.username || htuUrl.password) throw invalidDpopProof('DPoP "htu" must not contain credentials')
    if (htuUrl.protocol !== 'http:' && htuUrl.protocol !== 'https:') throw invalidDpopProof('DPoP "htu" must be http or https')
    // As official: a query or fragment in htu is tolerated (older clients sent one), and ignored.
    if (normalizeHtu(htuUrl) !== normalizeHtu(url)) throw invalidDpopProof('DPoP "htu" mismatch')
    if (!nonce) throw new UseDpopNonceError()
    if (!this.nonces.check(nonce)) throw new UseDpopNonceError('DPoP "nonce" mismatch')
    if (accessToken !== undefined) {
      const expected = createHash('sha256').update(accessToken).digest('base64url')
      if (ath !== expected) throw invalidDpopProof('DPoP "ath" mismatch')
    } else if (ath !== undefined) {
      throw invalidDpopProof('DPoP "ath" claim not allowed')
    }
    const jkt = await calculateJwkThumbprint(jwk, 'sha256').catch(() => {
      throw invalidDpopProof('Failed to calculate jkt')
    })
    // Replays are checked last so a proof refused for its nonce can be retried with another
    // jti without tripping this; the jti is unique per key, as the proof is signed by it.
    if (!this.#replay.unique(`${jkt}:${jti}`, DPOP_NONCE_MAX_AGE_MS + 10_000)) throw invalidDpopProof('DPoP proof replayed')
    return { jti, jkt, htm, htu }
  }
}

class ProofError extends Error {}

function decodePart(part: string | undefined): Record<string, unknown> {
  if (!part) throw new ProofError('malformed JWT')
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw new ProofError('malformed JWT')
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ProofError('malformed JWT')
  return value as Record<string, unknown>
}

function jwsAlg(jwt: string): unknown {
  try {
    return decodePart(jwt.split('.')[0]).alg
  } catch {
    return undefined
  }
}

/**
 * ES256K proofs (what the official client library picks first) checked with node:crypto, since
 * jose on WebCrypto has no secp256k1; the same rules as the jose path: typ, an embedded public
 * key, iat at most 10 s old within the clock tolerance, exp/nbf honoured when present.
 */
function verifyEs256kProof(jwt: string, toleranceS: number): { payload: Record<string, unknown>; jwk: JWK } {
  const parts = jwt.split('.')
  if (parts.length !== 3) throw new ProofError('malformed JWT')
  const header = decodePart(parts[0])
  const payload = decodePart(parts[1])
  if (header.typ !== 'dpop+jwt') throw new ProofError('unexpected "typ" JWT header value')
  const jwk = header.jwk as JWK | undefined
  if (!jwk || typeof jwk !== 'object' || jwk.kty !== 'EC' || jwk.crv !== 'secp256k1' || 'd' in jwk) {
    throw new ProofError('"jwk" (JSON Web Key) Header Parameter must be a public secp256k1 key')
  }
  let key: ReturnType<typeof createPublicKey>
  try {
    key = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: jwk.x, y: jwk.y }, format: 'jwk' })
  } catch {
    throw new ProofError('invalid "jwk"')
  }
  const sig = Buffer.from(parts[2], 'base64url')
  const ok = sig.length === 64 && cryptoVerify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, sig)
  if (!ok) throw new ProofError('signature verification failed')
  const now = Date.now() / 1000
  const { iat, exp, nbf } = payload
  if (typeof iat !== 'number') throw new ProofError('"iat" claim must be a number')
  if (iat > now + toleranceS) throw new ProofError('"iat" claim timestamp check failed (in the future)')
  if (now - iat > 10 + toleranceS) throw new ProofError('"iat" claim timestamp check failed (too far in the past)')
  if (exp !== undefined && (typeof exp !== 'number' || exp <= now - toleranceS)) throw new ProofError('"exp" claim timestamp check failed')
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + toleranceS)) throw new ProofError('"nbf" claim timestamp check failed')
  return { payload, jwk }
}
