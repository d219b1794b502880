// Signing keys. Everything is synchronous: the write path signs inside its per-account critical
// section, and an await there would let other work interleave for no gain (both backends are
// synchronous underneath anyway).
import type { CurveImpl, JwtAlg } from './curve.ts'
import { formatDidKey, formatMultikey } from './did-key.ts'
import { p256Impl, randomP256PrivateKey } from './p256.ts'
import { randomSecp256k1PrivateKey, secp256k1Impl } from './secp256k1.ts'

export interface Keypair {
  readonly jwtAlg: JwtAlg
  /** did:key of the public key. */
  did(): string
  /** 33-byte compressed SEC1 public key. */
  publicKeyBytes(): Uint8Array
  /** 64-byte compact low-S ECDSA signature over sha256(msg). */
  sign(msg: Uint8Array): Uint8Array
  /** The 32-byte private scalar. */
  export(): Uint8Array
}

function privateKeyBytes(priv: Uint8Array | string): Uint8Array {
  if (typeof priv !== 'string') return priv
  // The PDS_*_PRIVATE_KEY_HEX settings are bare hex; be strict so a truncated or padded value
  // fails here rather than becoming a different key.
  const hex = priv.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError('private key hex must be exactly 64 hex digits')
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

abstract class EcKeypair implements Keypair {
  abstract readonly jwtAlg: JwtAlg
  readonly #curve: CurveImpl
  readonly #priv: Uint8Array
  readonly #prepared: unknown
  #publicKey: Uint8Array | undefined
  #did: string | undefined

  protected constructor(curve: CurveImpl, priv: Uint8Array) {
    this.#curve = curve
    this.#prepared = curve.importPrivate(priv) // validates
    this.#priv = priv.slice()
  }

  // Derived on first use: a point multiplication that signing does not need (an account's key
  // is loaded on its first write, where only `sign` is called).
  get #pub(): Uint8Array {
    return (this.#publicKey ??= this.#curve.publicKeyOf(this.#priv))
  }

  did(): string {
    return (this.#did ??= formatDidKey(this.jwtAlg, this.#pub))
  }

  /** The `publicKeyMultibase` form for a DID document's verification method. */
  multikey(): string {
    return formatMultikey(this.jwtAlg, this.#pub)
  }

  publicKeyBytes(): Uint8Array {
    return this.#pub.slice()
  }

  sign(msg: Uint8Array): Uint8Array {
    return this.#curve.sign(this.#prepared, msg)
  }

  export(): Uint8Array {
    return this.#priv.slice()
  }
}

export class Secp256k1Keypair extends EcKeypair {
  readonly jwtAlg = 'ES256K' as const

  private constructor(priv: Uint8Array) {
    super(secp256k1Impl, priv)
  }

  static create(): Secp256k1Keypair {
    return new Secp256k1Keypair(randomSecp256k1PrivateKey())
  }

  /** From 32 private-key bytes or their 64-digit hex. Throws on an invalid scalar. */
  static import(priv: Uint8Array | string): Secp256k1Keypair {
    return new Secp256k1Keypair(privateKeyBytes(priv))
  }
}

export class P256Keypair extends EcKeypair {
  readonly jwtAlg = 'ES256' as const

  private constructor(priv: Uint8Array) {
    super(p256Impl, priv)
  }

  static create(): P256Keypair {
    return new P256Keypair(randomP256PrivateKey())
  }

  /** From 32 private-key bytes or their 64-digit hex. Throws on an invalid scalar. */
  static import(priv: Uint8Array | string): P256Keypair {
    return new P256Keypair(privateKeyBytes(priv))
  }
}

export function importKeypair(jwtAlg: JwtAlg, priv: Uint8Array | string): Secp256k1Keypair | P256Keypair {
  if (jwtAlg === 'ES256K') return Secp256k1Keypair.import(priv)
  if (jwtAlg === 'ES256') return P256Keypair.import(priv)
  throw new TypeError(`unsupported key algorithm: ${String(jwtAlg)}`)
}
