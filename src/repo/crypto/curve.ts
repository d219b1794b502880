// What a curve backend must provide, and the helpers the backends share. Each curve has a fast
// backend (libsecp256k1 through N-API for secp256k1, OpenSSL through node:crypto for P-256) and a
// pure-JS @noble/curves one that is always available. Keys are "prepared" once into whatever the
// backend wants (a KeyObject, a validated byte array) so the per-signature cost is only the math.
import { getCurves, getRandomValues } from 'node:crypto'

export type JwtAlg = 'ES256K' | 'ES256'

/**
 * The curves node:crypto's OpenSSL has by name (both of ours in every official Node build), for
 * the work on public points done through it: a runtime without one falls back to @noble/curves.
 */
export const OPENSSL_CURVES: ReadonlySet<string> = new Set(getCurves())

export interface CurveImpl<Priv = unknown, Pub = unknown> {
  readonly jwtAlg: JwtAlg
  readonly backend: string
  /** Throws on anything that is not a valid 32-byte scalar in [1, n-1]. */
  importPrivate(priv: Uint8Array): Priv
  /** The compressed (33-byte) SEC1 public key. */
  publicKeyOf(priv: Uint8Array): Uint8Array
  /** Throws unless `compressed` is a 33-byte SEC1 point on the curve. */
  importPublic(compressed: Uint8Array): Pub
  /** Signs sha256(msg): 64-byte r‖s with s in the low half of the order. */
  sign(priv: Priv, msg: Uint8Array): Uint8Array
  /**
   * Checks a signature over sha256(msg). Strict (the atproto rule): exactly 64 bytes, low S.
   * Malleable: also high S and DER, as the reference allows for service-auth JWTs. Never throws.
   */
  verify(pub: Pub, msg: Uint8Array, sig: Uint8Array, malleable: boolean): boolean
}

export type BackendChoice = 'auto' | 'native' | 'noble'

/**
 * HEARTH_CRYPTO_BACKEND, read once at load: `noble` forces the pure-JS code for both curves (to test
 * it, or on a platform where the native code misbehaves); `native` makes a missing libsecp256k1
 * binding a startup error instead of a silent 10x slowdown. A typo must not silently mean "auto".
 */
export function requestedBackend(env: NodeJS.ProcessEnv = process.env): BackendChoice {
  const raw = (env.HEARTH_CRYPTO_BACKEND ?? '').trim().toLowerCase()
  if (raw === '' || raw === 'auto') return 'auto'
  if (raw === 'native' || raw === 'noble') return raw
  throw new Error(`HEARTH_CRYPTO_BACKEND must be auto, native or noble (got ${JSON.stringify(env.HEARTH_CRYPTO_BACKEND)})`)
}

/** The group orders (n) of the two curves (SEC 2; a test holds them equal to @noble/curves'). */
export const SECP256K1_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = 0; i < bytes.length; i++) n = (n << 8n) | BigInt(bytes[i])
  return n
}

function bigIntTo32(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

/** Order-dependent checks on a compact signature, done on bytes so the common case allocates nothing. */
export class ScalarRange {
  readonly #n: Uint8Array
  readonly #halfN: Uint8Array
  readonly #order: bigint

  constructor(order: bigint) {
    this.#order = order
    this.#n = bigIntTo32(order)
    this.#halfN = bigIntTo32(order >> 1n)
  }

  /** 1 <= x <= n-1 for the 32 bytes of `bytes` starting at `offset`. */
  inRange(bytes: Uint8Array, offset: number): boolean {
    let zero = true
    for (let i = 0; i < 32; i++) {
      if (bytes[offset + i] !== 0) {
        zero = false
        break
      }
    }
    return !zero && compare32(bytes, offset, this.#n) < 0
  }

  /** s <= n/2 (atproto's low-S rule, the same bound libsecp256k1 and noble use). */
  isLowS(sig: Uint8Array): boolean {
    return compare32(sig, 32, this.#halfN) <= 0
  }

  /** The same signature with s replaced by n - s when s is in the high half; returns `sig` itself otherwise. */
  toLowS(sig: Uint8Array): Uint8Array {
    if (this.isLowS(sig)) return sig
    const out = new Uint8Array(64)
    out.set(sig.subarray(0, 32), 0)
    out.set(bigIntTo32(this.#order - bytesToBigInt(sig.subarray(32, 64))), 32)
    return out
  }
}

/**
 * A new private key: 32 random bytes drawn again until they are a scalar in [1, n-1], so every
 * scalar is equally likely (a redraw happens with probability under 2^-32 on either curve).
 */
export function randomPrivateKey(range: ScalarRange): Uint8Array {
  const out = new Uint8Array(32)
  do getRandomValues(out)
  while (!range.inRange(out, 0))
  return out
}

function compare32(bytes: Uint8Array, offset: number, ref: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = bytes[offset + i] - ref[i]
    if (d !== 0) return d
  }
  return 0
}

export function assertPrivateKeyBytes(priv: Uint8Array): void {
  if (!(priv instanceof Uint8Array) || priv.length !== 32) throw new TypeError('private key must be 32 bytes')
}

export function assertCompressedKey(pub: Uint8Array): void {
  if (!(pub instanceof Uint8Array) || pub.length !== 33 || (pub[0] !== 2 && pub[0] !== 3)) {
    throw new TypeError('public key must be a 33-byte compressed SEC1 point')
  }
}

/** A plain Uint8Array over the same memory, so callers and deepEqual never see a Buffer. */
export function plainBytes(buf: Uint8Array): Uint8Array {
  return buf.constructor === Uint8Array ? buf : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}
