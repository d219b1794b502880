// Keys and signatures for atproto's two curves. See curve.ts for how backends are chosen.
import { p256Impl } from './p256.ts'
import { secp256k1Impl, secp256k1NativeLoadError } from './secp256k1.ts'

export type { JwtAlg } from './curve.ts'
export {
  DID_KEY_PREFIX,
  formatDidKey,
  formatMultikey,
  InvalidKeyError,
  MAX_KEY_STRING_LENGTH,
  type ParsedPublicKey,
  parseDidKey,
  parseMultikey,
} from './did-key.ts'
export { importKeypair, type Keypair, P256Keypair, Secp256k1Keypair } from './keypair.ts'
export { type VerifyOptions, verifySignature } from './verify.ts'

export interface CryptoBackend {
  secp256k1: 'native' | 'noble'
  p256: 'node-crypto' | 'noble'
  /** Why libsecp256k1 did not load, when it did not. */
  nativeLoadError: string | null
}

/** Which implementation each curve uses (fixed at load; see HEARTH_CRYPTO_BACKEND). */
export function cryptoBackend(): CryptoBackend {
  return {
    secp256k1: secp256k1Impl.backend as CryptoBackend['secp256k1'],
    p256: p256Impl.backend as CryptoBackend['p256'],
    nativeLoadError: secp256k1NativeLoadError(),
  }
}
