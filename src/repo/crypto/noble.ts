// The pure-JS backend, shared by both curves: always available, ~10-60x slower than the native ones.
import type { ECDSA } from '@noble/curves/abstract/weierstrass.js'
import { sha256 } from '../cid.ts'
import { assertCompressedKey, assertPrivateKeyBytes, type CurveImpl, type JwtAlg } from './curve.ts'

/** `loadCurve` is called on each use, so that @noble/curves loads only when this backend is used. */
export function nobleImpl(loadCurve: () => ECDSA, jwtAlg: JwtAlg): CurveImpl<Uint8Array, Uint8Array> {
  const name = jwtAlg === 'ES256K' ? 'secp256k1' : 'P-256'

  // The malleable mode follows the reference (noble v1 given no format): DER is tried first and
  // compact only when the bytes are not DER.
  function looksLikeDer(sig: Uint8Array): boolean {
    try {
      loadCurve().Signature.fromBytes(sig, 'der')
      return true
    } catch {
      return false
    }
  }

  return {
    jwtAlg,
    backend: 'noble',
    importPrivate(priv) {
      assertPrivateKeyBytes(priv)
      if (!loadCurve().utils.isValidSecretKey(priv)) throw new TypeError(`invalid ${name} private key`)
      return priv.slice()
    },
    publicKeyOf(priv) {
      return loadCurve().getPublicKey(priv, true)
    },
    importPublic(pub) {
      assertCompressedKey(pub)
      // Kept uncompressed: noble re-parses the key on every verify, and decompressing costs a
      // square root each time where the uncompressed form only needs an on-curve check.
      return loadCurve().Point.fromBytes(pub).toBytes(false)
    },
    sign(priv, msg) {
      // extraEntropy is left off: RFC 6979 deterministic, the same bytes libsecp256k1 and @atproto/crypto give.
      return loadCurve().sign(sha256(msg), priv, { prehash: false, lowS: true, format: 'compact' })
    },
    verify(pub, msg, sig, malleable) {
      try {
        if (!malleable) {
          return sig.length === 64 && loadCurve().verify(sig, sha256(msg), pub, { prehash: false, lowS: true, format: 'compact' })
        }
        const format = looksLikeDer(sig) ? 'der' : 'compact'
        return loadCurve().verify(sig, sha256(msg), pub, { prehash: false, lowS: false, format })
      } catch {
        return false
      }
    },
  }
}
