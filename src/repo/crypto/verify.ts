import { curveFor, preparedDidKey } from './did-key.ts'
import type { JwtAlg } from './curve.ts'

export interface VerifyOptions {
  /** Refuse keys of any other algorithm (a JWT's `alg` header must match its issuer's key). */
  jwtAlg?: JwtAlg
  /**
   * Also accept high-S and DER signatures. Off for repo commits; the reference turns it on for
   * service-auth JWTs only, because some issuers produce high-S signatures there.
   */
  allowMalleableSig?: boolean
}

/**
 * Checks a signature over sha256(msg) by the key a did:key names. Strict by default: 64-byte
 * compact r‖s with low S. Returns false, never throws, on a malformed key or signature.
 */
export function verifySignature(didKey: string, msg: Uint8Array, sig: Uint8Array, opts?: VerifyOptions): boolean {
  try {
    if (!(msg instanceof Uint8Array) || !(sig instanceof Uint8Array)) return false
    const key = preparedDidKey(didKey)
    if (opts?.jwtAlg !== undefined && opts.jwtAlg !== key.jwtAlg) return false
    return curveFor(key.jwtAlg).verify(key.prepared, msg, sig, opts?.allowMalleableSig === true)
  } catch {
    return false
  }
}
