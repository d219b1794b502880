// did:key and Multikey (the `publicKeyMultibase` of a DID document's verification method):
// `z` + base58btc(multicodec varint ‖ 33-byte compressed point). atproto uses only the compressed
// form, and both multicodecs (secp256k1-pub 0xe7, p256-pub 0x1200) are defined as compressed, so a
// 65-byte key inside a did:key is refused (as @atproto/crypto does): accepting it would give one
// key two did:key spellings. Formatting, on the other hand, takes either form and compresses.
import { ECDH } from 'node:crypto'
import { fromBase58Btc, toBase58Btc } from '@atcute/multibase'
import { type CurveImpl, type JwtAlg, OPENSSL_CURVES } from './curve.ts'
import { nobleP256, nobleSecp256k1 } from './noble-curves.ts'
import { p256Impl } from './p256.ts'
import { secp256k1Impl } from './secp256k1.ts'

export const DID_KEY_PREFIX = 'did:key:'

/**
 * Longer did:key and Multikey strings are refused before decoding: a real one is under 60
 * characters, and base58 decoding takes time quadratic in the length (100,000 characters would
 * block the event loop for seconds).
 */
export const MAX_KEY_STRING_LENGTH = 128

const K256_CODEC = Uint8Array.of(0xe7, 0x01)
const P256_CODEC = Uint8Array.of(0x80, 0x24)

export interface ParsedPublicKey {
  jwtAlg: JwtAlg
  /** 33-byte compressed SEC1 point. */
  publicKey: Uint8Array
}

export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError'
}

export function curveFor(jwtAlg: JwtAlg): CurveImpl {
  if (jwtAlg === 'ES256K') return secp256k1Impl
  if (jwtAlg === 'ES256') return p256Impl
  throw new InvalidKeyError(`unsupported key algorithm: ${String(jwtAlg)}`)
}

/** A key ready for the active backend, as kept in the cache. */
export interface PreparedKey extends ParsedPublicKey {
  prepared: unknown
}

function decodeMultikey(multikey: string): PreparedKey {
  if (typeof multikey !== 'string' || multikey[0] !== 'z') {
    throw new InvalidKeyError('multikey must be base58btc (start with "z")')
  }
  if (multikey.length > MAX_KEY_STRING_LENGTH) throw new InvalidKeyError(`multikey too long (over ${MAX_KEY_STRING_LENGTH} characters)`)
  let bytes: Uint8Array
  try {
    bytes = fromBase58Btc(multikey.slice(1))
  } catch {
    throw new InvalidKeyError('multikey is not valid base58btc')
  }
  let jwtAlg: JwtAlg
  if (bytes[0] === K256_CODEC[0] && bytes[1] === K256_CODEC[1]) jwtAlg = 'ES256K'
  else if (bytes[0] === P256_CODEC[0] && bytes[1] === P256_CODEC[1]) jwtAlg = 'ES256'
  else throw new InvalidKeyError('unsupported key type (only secp256k1 and P-256 multicodecs)')
  const publicKey = bytes.slice(2)
  if (publicKey.length !== 33) {
    throw new InvalidKeyError(`expected a 33-byte compressed ${jwtAlg === 'ES256K' ? 'secp256k1' : 'P-256'} key, got ${publicKey.length} bytes`)
  }
  let prepared: unknown
  try {
    prepared = curveFor(jwtAlg).importPublic(publicKey)
  } catch {
    throw new InvalidKeyError(`not a valid ${jwtAlg === 'ES256K' ? 'secp256k1' : 'P-256'} public key`)
  }
  return { jwtAlg, publicKey, prepared }
}

// Verification is called over and over with the same few keys (a repo's own key, a handful of
// services' keys), and parsing means base58 plus a point decompression. A Map keeps insertion
// order, so deleting and re-inserting on a hit makes the first key the least recently used.
const CACHE_SIZE = 1000
const cache = new Map<string, PreparedKey>()

/** Parses (or fetches from the cache) a did:key for verification. Throws InvalidKeyError. */
export function preparedDidKey(did: string): PreparedKey {
  if (typeof did === 'string' && did.length > MAX_KEY_STRING_LENGTH) {
    throw new InvalidKeyError(`did:key too long (over ${MAX_KEY_STRING_LENGTH} characters)`)
  }
  const hit = cache.get(did)
  if (hit !== undefined) {
    cache.delete(did)
    cache.set(did, hit)
    return hit
  }
  if (typeof did !== 'string' || !did.startsWith(DID_KEY_PREFIX)) {
    throw new InvalidKeyError('not a did:key')
  }
  const parsed = decodeMultikey(did.slice(DID_KEY_PREFIX.length))
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
  cache.set(did, parsed)
  return parsed
}

export function parseMultikey(multikey: string): ParsedPublicKey {
  const { jwtAlg, publicKey } = decodeMultikey(multikey)
  return { jwtAlg, publicKey }
}

export function parseDidKey(did: string): ParsedPublicKey {
  const { jwtAlg, publicKey } = preparedDidKey(did)
  return { jwtAlg, publicKey: publicKey.slice() } // the cached copy must not be handed out
}

/**
 * The compressed form of a SEC1 point: 33 bytes (02/03 ‖ x) or 65 (04 ‖ x ‖ y), the only forms
 * @noble/curves takes; throws unless it is a point on the curve.
 */
function compressPoint(jwtAlg: JwtAlg, publicKey: Uint8Array): Uint8Array {
  const length = publicKey.length
  const prefix = publicKey[0]
  if (!((length === 33 && (prefix === 2 || prefix === 3)) || (length === 65 && prefix === 4))) {
    throw new TypeError('not a compressed or uncompressed SEC1 point')
  }
  const name = jwtAlg === 'ES256K' ? 'secp256k1' : 'prime256v1'
  if (OPENSSL_CURVES.has(name)) {
    // OpenSSL parses the point (refusing coordinates past the field or off the curve) and writes it compressed.
    return new Uint8Array(ECDH.convertKey(publicKey, name, undefined, undefined, 'compressed') as Buffer)
  }
  const curve = jwtAlg === 'ES256K' ? nobleSecp256k1() : nobleP256()
  return curve.Point.fromBytes(publicKey).toBytes(true)
}

/** Accepts a compressed (33) or uncompressed (65) SEC1 key; always writes the compressed form. */
export function formatMultikey(jwtAlg: JwtAlg, publicKey: Uint8Array): string {
  if (jwtAlg !== 'ES256K' && jwtAlg !== 'ES256') throw new InvalidKeyError(`unsupported key algorithm: ${String(jwtAlg)}`)
  let compressed: Uint8Array
  try {
    compressed = compressPoint(jwtAlg, publicKey)
  } catch {
    throw new InvalidKeyError(`not a valid ${jwtAlg === 'ES256K' ? 'secp256k1' : 'P-256'} public key`)
  }
  const prefixed = new Uint8Array(35)
  prefixed.set(jwtAlg === 'ES256K' ? K256_CODEC : P256_CODEC, 0)
  prefixed.set(compressed, 2)
  return 'z' + toBase58Btc(prefixed)
}

export function formatDidKey(jwtAlg: JwtAlg, publicKey: Uint8Array): string {
  return DID_KEY_PREFIX + formatMultikey(jwtAlg, publicKey)
}
