// did:plc operations a PDS creates: the genesis operation of a new account, updates on top of a
// DID's last operation (handle, signing key, PDS endpoint, rotation keys, or any mix), and the
// tombstone. Formats, signatures and DID derivation are @did-plc/lib's; this module fixes what a
// PDS puts in them (which keys, in which order) and adapts Hearth's keys to the library's signer.
// The genesis operation alone is built here, as the library builds it (the tests hold the two
// equal): every createAccount makes one, and loading the library for it kept several MB of
// resident memory (its source, zod schemas, a bignum library) for the life of the process.
import { toBase32, toBase64Url } from '@atcute/multibase'
import { encodeCbor } from '../repo/cbor.ts'
import { sha256 } from '../repo/cid.ts'
import type { Keypair } from '../repo/crypto/index.ts'
import { DidTombstonedError } from './errors.ts'
import {
  isTombstone,
  opCid,
  plc,
  type PlcAnyOp,
  type PlcCompatibleOp,
  type PlcDocumentData,
  type PlcOperation,
  type PlcSigner,
  type PlcTombstone,
  type PlcUnsignedOperation,
} from './plc-lib.ts'

export type {
  PlcAnyOp,
  PlcAuditEntry,
  PlcCompatibleOp,
  PlcDocumentData,
  PlcOperation,
  PlcService,
  PlcTombstone,
} from './plc-lib.ts'
export { opCid } from './plc-lib.ts'

export const ATPROTO_PDS_SERVICE_TYPE = 'AtprotoPersonalDataServer'

/** The library's signer interface over a Hearth keypair (whose signing is synchronous). */
export function plcSigner(key: Keypair): PlcSigner & { jwtAlg: Keypair['jwtAlg'] } {
  return {
    jwtAlg: key.jwtAlg,
    did: () => key.did(),
    sign: async (msg: Uint8Array) => key.sign(msg),
  }
}

export interface GenesisOpInput {
  /** did:key of the account's repo signing key (`verificationMethods.atproto`). */
  signingKey: string
  handle: string
  /** The PDS's public URL (`services.atproto_pds.endpoint`). */
  pdsEndpoint: string
  /** The PDS's PLC rotation key: listed last in rotationKeys, and signs the operation. */
  rotationKey: Keypair
  /**
   * did:keys listed ahead of the PDS key, highest authority first: the user's own recovery key,
   * then the operator's PDS_RECOVERY_DID_KEY, as the official PDS orders them.
   */
  recoveryKeys?: string[]
}

/** The rotation keys of a PDS-created DID: the recovery keys, then the PDS key. */
export function genesisRotationKeys(rotationKeyDid: string, recoveryKeys: string[] = []): string[] {
  return [...recoveryKeys, rotationKeyDid]
}

/**
 * Creates and signs a genesis operation; returns it with the DID it defines. The library's
 * `createOp`: `at://` and `https://` prefixed when missing, the signature (base64url) over the
 * DAG-CBOR of the unsigned operation.
 */
export async function createGenesisOp(input: GenesisOpInput): Promise<{ did: string; op: PlcOperation }> {
  const unsigned: PlcUnsignedOperation = {
    type: 'plc_operation',
    verificationMethods: { atproto: input.signingKey },
    rotationKeys: genesisRotationKeys(input.rotationKey.did(), input.recoveryKeys),
    alsoKnownAs: [atprotoPrefixed(input.handle)],
    services: { atproto_pds: { type: ATPROTO_PDS_SERVICE_TYPE, endpoint: httpPrefixed(input.pdsEndpoint) } },
    prev: null,
  }
  const op: PlcOperation = { ...unsigned, sig: toBase64Url(input.rotationKey.sign(encodeCbor(unsigned))) }
  return { did: await didForGenesisOp(op), op }
}

function atprotoPrefixed(handle: string): string {
  return handle.startsWith('at://') ? handle : `at://${handle.replace('http://', '').replace('https://', '')}`
}

function httpPrefixed(url: string): string {
  return url.startsWith('http://') || url.startsWith('https://') ? url : `https://${url}`
}

/** The DID a genesis operation defines: the first 24 base32 characters of its sha-256. */
export async function didForGenesisOp(op: PlcCompatibleOp): Promise<string> {
  return `did:plc:${toBase32(sha256(encodeCbor(op))).slice(0, 24)}`
}

export type PlcChanges = Partial<Pick<PlcUnsignedOperation, 'rotationKeys' | 'alsoKnownAs' | 'verificationMethods' | 'services'>>

function assertNotTombstone(lastOp: PlcAnyOp): asserts lastOp is PlcCompatibleOp {
  if (isTombstone(lastOp)) throw new DidTombstonedError()
}

/**
 * An update on top of `lastOp`: its state (legacy genesis normalized) with `changes` applied
 * field by field, `prev` set to its CID, signed by `signer` (which must be one of its rotation
 * keys for a directory to accept it).
 */
export async function updateOp(lastOp: PlcAnyOp, signer: Keypair, changes: PlcChanges): Promise<PlcOperation> {
  assertNotTombstone(lastOp)
  return plc().createUpdateOp(lastOp, plcSigner(signer), (normalized) => ({
    ...normalized,
    rotationKeys: changes.rotationKeys ?? normalized.rotationKeys,
    alsoKnownAs: changes.alsoKnownAs ?? normalized.alsoKnownAs,
    verificationMethods: changes.verificationMethods ?? normalized.verificationMethods,
    services: changes.services ?? normalized.services,
  }))
}

/** Replaces the first `at://` alias (or prepends one) with the new handle. */
export async function updateHandleOp(lastOp: PlcAnyOp, signer: Keypair, handle: string): Promise<PlcOperation> {
  assertNotTombstone(lastOp)
  return plc().updateHandleOp(lastOp, plcSigner(signer), handle)
}

/** Points `verificationMethods.atproto` at a new repo signing key. */
export async function updateSigningKeyOp(lastOp: PlcAnyOp, signer: Keypair, signingKey: string): Promise<PlcOperation> {
  assertNotTombstone(lastOp)
  return plc().updateAtprotoKeyOp(lastOp, plcSigner(signer), signingKey)
}

/** Points `services.atproto_pds` at a new PDS endpoint. */
export async function updatePdsEndpointOp(lastOp: PlcAnyOp, signer: Keypair, endpoint: string): Promise<PlcOperation> {
  assertNotTombstone(lastOp)
  return plc().updatePdsOp(lastOp, plcSigner(signer), endpoint)
}

export async function updateRotationKeysOp(lastOp: PlcAnyOp, signer: Keypair, rotationKeys: string[]): Promise<PlcOperation> {
  assertNotTombstone(lastOp)
  return plc().updateRotationKeysOp(lastOp, plcSigner(signer), rotationKeys)
}

/** Permanently deactivates the DID whose last operation is `lastOp`. */
export async function tombstoneOp(lastOp: PlcAnyOp, signer: Keypair): Promise<PlcTombstone> {
  assertNotTombstone(lastOp)
  return plc().tombstoneOp({ toString: () => opCid(lastOp) }, plcSigner(signer))
}

/** The DID state an operation leaves (null for a tombstone). */
export function documentDataForOp(did: string, op: PlcAnyOp): PlcDocumentData | null {
  return plc().opToData(did, op)
}

/** The legacy genesis format rewritten as a `plc_operation` (other operations unchanged). */
export function normalizeOp(op: PlcCompatibleOp): PlcOperation {
  return plc().normalizeOp(op)
}

/**
 * Which of `keys` signed `op` (did:key), or null if none did. The library's check: the signature
 * over the DAG-CBOR of the operation without `sig`.
 */
export async function operationSigner(op: PlcAnyOp, keys: string[]): Promise<string | null> {
  try {
    return await plc().assureValidSig(keys, op)
  } catch (err) {
    if (plc().PlcError.is(err)) return null
    throw err
  }
}

/** Throws @did-plc/lib's error when `op` is malformed: unsupported keys, 0 or more than 5 rotation keys. */
export async function assureValidOp(op: PlcOperation | PlcTombstone): Promise<void> {
  await plc().assureValidOp(op)
}

/** Structural check of an incoming operation (shape only, no signature). */
export function isOperationOrTombstone(value: unknown): value is PlcOperation | PlcTombstone {
  return plc().def.opOrTombstone.safeParse(value).success
}
