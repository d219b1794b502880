// secp256k1 (ES256K), the curve of nearly every atproto repo signing key, so the one on the write
// path. libsecp256k1 through the `secp256k1` package's N-API prebuild signs ~10x and verifies
// ~25x faster than @noble/curves (measured: 25k vs 2.4k signs/s, 21k vs 0.8k verifies/s). The
// package's own entry point silently falls back to the slow pure-JS `elliptic` when the binding
// is missing, so we load `secp256k1/bindings` directly to know which one we got, and fall back
// to @noble/curves ourselves.
//
// Both backends sign deterministically (RFC 6979, no extra entropy), so they produce the same
// bytes for the same key and message, and so does @atproto/crypto.
import { createECDH } from 'node:crypto'
import { createRequire } from 'node:module'
import { sha256 } from '../cid.ts'
import {
  assertCompressedKey,
  assertPrivateKeyBytes,
  type BackendChoice,
  type CurveImpl,
  OPENSSL_CURVES,
  randomPrivateKey,
  requestedBackend,
  ScalarRange,
  SECP256K1_ORDER,
} from './curve.ts'
import { nobleImpl } from './noble.ts'
import { nobleSecp256k1 } from './noble-curves.ts'

/** The subset of the `secp256k1` package's API used here (it ships no types). */
interface NativeSecp256k1 {
  privateKeyVerify(seckey: Uint8Array): boolean
  publicKeyCreate(seckey: Uint8Array, compressed?: boolean): Uint8Array
  publicKeyVerify(pubkey: Uint8Array): boolean
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number }
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean
  /** Mutates its argument. */
  signatureNormalize(sig: Uint8Array): Uint8Array
  signatureImport(der: Uint8Array): Uint8Array
}

let nativeLoadError: string | null = null

function loadNative(): NativeSecp256k1 | null {
  try {
    const require = createRequire(import.meta.url)
    return require('secp256k1/bindings') as NativeSecp256k1
  } catch (err) {
    nativeLoadError = err instanceof Error ? err.message : String(err)
    return null
  }
}

function nativeImpl(lib: NativeSecp256k1): CurveImpl<Uint8Array, Uint8Array> {
  return {
    jwtAlg: 'ES256K',
    backend: 'native',
    importPrivate(priv) {
      assertPrivateKeyBytes(priv)
      if (!lib.privateKeyVerify(priv)) throw new TypeError('invalid secp256k1 private key')
      return priv.slice()
    },
    publicKeyOf(priv) {
      return lib.publicKeyCreate(priv, true)
    },
    importPublic(pub) {
      assertCompressedKey(pub)
      if (!lib.publicKeyVerify(pub)) throw new TypeError('not a point on secp256k1')
      return pub.slice()
    },
    sign(priv, msg) {
      // libsecp256k1 always emits the low-S form.
      return lib.ecdsaSign(sha256(msg), priv).signature
    },
    verify(pub, msg, sig, malleable) {
      try {
        let compact: Uint8Array
        if (!malleable) {
          if (sig.length !== 64) return false
          compact = sig
        } else {
          compact = lib.signatureNormalize(looseSignature(lib, sig))
        }
        // libsecp256k1's verify refuses high-S by itself, which is the strict atproto rule.
        return lib.ecdsaVerify(compact, sha256(msg), pub)
      } catch {
        return false
      }
    },
  }
}

const nobleK256 = nobleImpl(nobleSecp256k1, 'ES256K')
const range = new ScalarRange(SECP256K1_ORDER)

// The malleable mode follows the reference (noble v1 given no format): DER is tried first and
// compact only when the bytes are not DER, so a 64-byte value that happens to be DER reads as DER.
function looseSignature(lib: NativeSecp256k1, sig: Uint8Array): Uint8Array {
  try {
    return lib.signatureImport(sig)
  } catch {
    if (sig.length !== 64) throw new TypeError('not a signature')
    return sig.slice() // signatureNormalize writes into its argument
  }
}

// The binding is loaded on first use, not at start: loading it (node-gyp-build, the addon, and the
// context it creates) is ~2.5 MB of resident memory that an idle server never needs, and a key is
// imported (validated) without it. HEARTH_CRYPTO_BACKEND=native still loads it at start, so that a
// missing binding stops the start rather than the first write.
let nativeLib: NativeSecp256k1 | null | undefined
let nativeK256: CurveImpl<Uint8Array, Uint8Array> | null = null

function native(): NativeSecp256k1 | null {
  if (nativeLib === undefined) nativeLib = loadNative()
  return nativeLib
}

/** Both backends, for tests that check they agree with each other. `native` is null when the binding did not load. */
export const secp256k1Impls: { readonly native: CurveImpl<Uint8Array, Uint8Array> | null; readonly noble: CurveImpl<Uint8Array, Uint8Array> } = {
  get native() {
    const lib = native()
    return lib ? (nativeK256 ??= nativeImpl(lib)) : null
  },
  noble: nobleK256,
}

/** Which backend serves secp256k1, given the HEARTH_CRYPTO_BACKEND choice and the native backend if it loaded. */
export function selectSecp256k1Impl(
  choice: BackendChoice,
  nativeBackend: CurveImpl<Uint8Array, Uint8Array> | null,
): CurveImpl<Uint8Array, Uint8Array> {
  if (choice === 'noble') return nobleK256
  if (nativeBackend) return nativeBackend
  if (choice === 'native') {
    throw new Error(`HEARTH_CRYPTO_BACKEND=native but the secp256k1 native binding did not load: ${nativeLoadError ?? 'unknown reason'}`)
  }
  return nobleK256
}

const choice = requestedBackend()
let selected: CurveImpl<Uint8Array, Uint8Array> | undefined

function current(): CurveImpl<Uint8Array, Uint8Array> {
  return (selected ??= selectSecp256k1Impl(choice, choice === 'noble' ? null : secp256k1Impls.native))
}

if (choice === 'native') current()

/**
 * The backend in use, chosen on first use. A private key is validated here, without it: both
 * backends keep it as the same 32 bytes once checked to be a scalar in [1, n-1], so no binding
 * need load to import one (the PLC rotation key, read at start), nor to derive its public key. A
 * public key's imported form is the chosen backend's, and only that backend verifies with it.
 */
export const secp256k1Impl: CurveImpl<Uint8Array, Uint8Array> = {
  jwtAlg: 'ES256K',
  get backend() {
    return current().backend
  },
  importPrivate(priv) {
    assertPrivateKeyBytes(priv)
    if (!range.inRange(priv, 0)) throw new TypeError('invalid secp256k1 private key')
    return priv.slice()
  },
  publicKeyOf(priv) {
    if (!OPENSSL_CURVES.has('secp256k1') || choice === 'noble') return current().publicKeyOf(priv)
    const ecdh = createECDH('secp256k1')
    ecdh.setPrivateKey(priv)
    return new Uint8Array(ecdh.getPublicKey(undefined, 'compressed'))
  },
  importPublic: (pub) => current().importPublic(pub),
  sign: (priv, msg) => current().sign(priv, msg),
  verify: (pub, msg, sig, malleable) => current().verify(pub, msg, sig, malleable),
}

/** Why the native binding is unavailable, or null when it loaded. */
export function secp256k1NativeLoadError(): string | null {
  native()
  return nativeLoadError
}

export function randomSecp256k1PrivateKey(): Uint8Array {
  return randomPrivateKey(range)
}
