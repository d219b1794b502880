// DPoP proofs (RFC 9449) and the server nonces that bound their freshness. The nonce scheme is
// the official one (HMAC-SHA256 of a rotation counter under PDS_DPOP_SECRET, one-minute
// rotation, previous/current/next accepted), so nonces stay valid across a switch between the
// two implementations sharing a secret.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { JWK } from 'jose'
import { invalidDpopProof, UseDpopNonceError, VERIFY_ALGOS } from './errors.ts'
import { isJoseError, loadJose } from '../auth/oauth-libs.ts'
import { checkClaims, decodeJwt, type EcAlg, ecJwkThumbprint, isEcAlg, isEcPublicJwk, JwtError, jwtAlg, normalizeTyp, verifyEcSignature } from './jwt.ts'
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
      const alg = jwtAlg(header)
      if (isEcAlg(alg)) {
        ;({ payload, jwk } = verifyEcProof(header, alg, DPOP_NONCE_MAX_AGE_MS / 1000))
      } else {
        const { EmbeddedJWK, jwtVerify } = await loadJose()
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
      const detail = isJoseError(err) || err instanceof JwtError ? `: ${err.message}` : ''
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
    const jkt =
      jwk.kty === 'EC'
        ? ecJwkThumbprint(jwk)
        : await loadJose()
            .then(({ calculateJwkThumbprint }) => calculateJwkThumbprint(jwk, 'sha256'))
            .catch(() => {
              throw invalidDpopProof('Failed to calculate jkt')
            })
    // Replays are checked last so a proof refused for its nonce can be retried with another
    // jti without tripping this; the jti is unique per key, as the proof is signed by it.
    if (!this.#replay.unique(`${jkt}:${jti}`, DPOP_NONCE_MAX_AGE_MS + 10_000)) throw invalidDpopProof('DPoP proof replayed')
    return { jti, jkt, htm, htu }
  }
}

/**
 * EC proofs (ES256K, which the official client library picks first and jose on WebCrypto cannot
 * verify, and ES256/384/512), checked with node:crypto (see jwt.ts) by the same rules as the
 * jose path: typ, an embedded public key on the algorithm's curve, no `crit`, iat at most 10 s
 * old within the clock tolerance, exp/nbf honoured when present.
 */
function verifyEcProof(jwt: string, alg: EcAlg, toleranceS: number): { payload: Record<string, unknown>; jwk: JWK } {
  const decoded = decodeJwt(jwt)
  const { header, payload } = decoded
  if (header.alg !== alg) throw new JwtError('unexpected "alg"')
  if (normalizeTyp(header.typ) !== 'dpop+jwt') throw new JwtError('unexpected "typ" JWT header value')
  if (header.crit !== undefined) throw new JwtError('Extension Header Parameter "crit" is not supported')
  const jwk = header.jwk
  if (!isEcPublicJwk(jwk, alg)) throw new JwtError('"jwk" (JSON Web Key) Header Parameter must be a public key of the algorithm\'s curve')
  if (!verifyEcSignature(decoded, alg, jwk)) throw new JwtError('signature verification failed')
  if (typeof payload.iat !== 'number') throw new JwtError('"iat" claim must be a number')
  checkClaims(payload, { toleranceS, maxTokenAgeS: 10 })
  return { payload, jwk }
}
