// P-256 (ES256): rarer as a repo key, common for PLC rotation keys and OAuth. OpenSSL through
// node:crypto signs ~10x and verifies 20-30x faster than @noble/curves, so it is the default.
// OpenSSL signs with a random nonce and does not care which half S falls in, so its signatures
// are folded into the low-S form on the way out and high-S is refused on the way in.
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto'
import {
  assertCompressedKey,
  assertPrivateKeyBytes,
  type CurveImpl,
  P256_ORDER,
  plainBytes,
  randomPrivateKey,
  requestedBackend,
  ScalarRange,
} from './curve.ts'
import { nobleImpl } from './noble.ts'
import { nobleP256 as noble } from './noble-curves.ts'

const range = new ScalarRange(P256_ORDER)

// DER scaffolding around the raw key bytes, so OpenSSL parses (and validates) them itself.
// SPKI: id-ecPublicKey, prime256v1, then the compressed point as the BIT STRING.
const SPKI_PREFIX = Uint8Array.from(Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'))
// SEC1 ECPrivateKey: version 1, the 32-byte scalar, then [0] prime256v1; the public key is optional.
const SEC1_PREFIX = Uint8Array.from(Buffer.from('30310201010420', 'hex'))
const SEC1_SUFFIX = Uint8Array.from(Buffer.from('a00a06082a8648ce3d030107', 'hex'))

function concat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts)
}

interface NodePrivate {
  key: KeyObject
  publicKey: Uint8Array
}

function looksLikeDer(sig: Uint8Array): boolean {
  try {
    noble().Signature.fromBytes(sig, 'der')
    return true
  } catch {
    return false
  }
}

function compressedFromKeyObject(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' })
  const x = Buffer.from(jwk.x ?? '', 'base64url')
  const y = Buffer.from(jwk.y ?? '', 'base64url')
  if (x.length !== 32 || y.length !== 32) throw new TypeError('unexpected P-256 JWK from node:crypto')
  const out = new Uint8Array(33)
  out[0] = 2 + (y[31] & 1)
  out.set(x, 1)
  return out
}

function importNodePrivate(priv: Uint8Array): NodePrivate {
  assertPrivateKeyBytes(priv)
  if (!range.inRange(priv, 0)) throw new TypeError('invalid P-256 private key')
  const key = createPrivateKey({ key: concat(SEC1_PREFIX, priv, SEC1_SUFFIX), format: 'der', type: 'sec1' })
  return { key, publicKey: compressedFromKeyObject(createPublicKey(key)) }
}

const nodeImpl: CurveImpl<NodePrivate, KeyObject> = {
  jwtAlg: 'ES256',
  backend: 'node-crypto',
  importPrivate: importNodePrivate,
  publicKeyOf(priv) {
    return importNodePrivate(priv).publicKey
  },
  importPublic(pub) {
    assertCompressedKey(pub)
    // OpenSSL decompresses the point and refuses one that is not on the curve.
    return createPublicKey({ key: concat(SPKI_PREFIX, pub), format: 'der', type: 'spki' })
  },
  sign(priv, msg) {
    const sig = plainBytes(nodeSign('sha256', msg, { key: priv.key, dsaEncoding: 'ieee-p1363' }))
    return range.toLowS(sig)
  },
  verify(pub, msg, sig, malleable) {
    try {
      if (!malleable) {
        if (sig.length !== 64 || !range.isLowS(sig)) return false
        return nodeVerify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)
      }
      const dsaEncoding = looksLikeDer(sig) ? 'der' : 'ieee-p1363'
      if (dsaEncoding === 'ieee-p1363' && sig.length !== 64) return false
      return nodeVerify('sha256', msg, { key: pub, dsaEncoding }, sig)
    } catch {
      return false
    }
  },
}

const nobleP256 = nobleImpl(noble, 'ES256')

/** Both backends, for tests that check they agree with each other. */
export const p256Impls: { readonly node: CurveImpl<NodePrivate, KeyObject>; readonly noble: CurveImpl<Uint8Array, Uint8Array> } = {
  node: nodeImpl,
  noble: nobleP256,
}

export const p256Impl: CurveImpl = requestedBackend() === 'noble' ? nobleP256 : nodeImpl

export function randomP256PrivateKey(): Uint8Array {
  return randomPrivateKey(range)
}
