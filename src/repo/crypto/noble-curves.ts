// @noble/curves, the pure-JS backend, loaded on first use: it serves only what the fast backends
// cannot (HEARTH_CRYPTO_BACKEND=noble, a missing libsecp256k1 binding, DER detection for a
// malleable P-256 signature, a runtime whose OpenSSL lacks a curve), and importing it with
// @noble/hashes costs an idle server ~1.4 MB. The curves are used synchronously (signing sits
// inside the write path's critical section), so the first use loads them with require() of an ES
// module (./require-esm.ts, and its rule: no import() of them at run time); where Node cannot,
// they are imported at start as before.
import { canRequireEsm, requireEsm } from '../require-esm.ts'

type Secp256k1Module = typeof import('@noble/curves/secp256k1.js')
type NistModule = typeof import('@noble/curves/nist.js')

let secp256k1Module: Secp256k1Module | null = canRequireEsm ? null : await import('@noble/curves/secp256k1.js')
let nistModule: NistModule | null = canRequireEsm ? null : await import('@noble/curves/nist.js')

export function nobleSecp256k1(): Secp256k1Module['secp256k1'] {
  return (secp256k1Module ??= requireEsm('@noble/curves/secp256k1.js') as Secp256k1Module).secp256k1
}

export function nobleP256(): NistModule['p256'] {
  return (nistModule ??= requireEsm('@noble/curves/nist.js') as NistModule).p256
}
