// The one place Hearth imports @did-plc/lib, the reference implementation of did:plc (operation
// formats, signing, DID derivation, validation of the next operation). Everything about PLC
// semantics is left to it; this module only gives its functions precise types and adapts values
// at the boundary.
//
// Types are declared here rather than taken from the package's .d.ts: those are inferred from
// zod schemas and depend on whichever zod version the tree happens to hoist.
import { createRequire } from 'node:module'
import { cidForCbor, parseCid } from '../repo/cid.ts'
import { encodeCbor } from '../repo/cbor.ts'

export interface PlcService {
  type: string
  endpoint: string
}

export interface PlcUnsignedOperation {
  type: 'plc_operation'
  rotationKeys: string[]
  verificationMethods: Record<string, string>
  alsoKnownAs: string[]
  services: Record<string, PlcService>
  prev: string | null
}

export interface PlcOperation extends PlcUnsignedOperation {
  sig: string
}

export interface PlcTombstone {
  type: 'plc_tombstone'
  prev: string
  sig: string
}

/** The original (2022) genesis format, still found at the head of old logs. */
export interface PlcLegacyCreateOp {
  type: 'create'
  signingKey: string
  recoveryKey: string
  handle: string
  service: string
  prev: null
  sig: string
}

export type PlcCompatibleOp = PlcOperation | PlcLegacyCreateOp
export type PlcOpOrTombstone = PlcOperation | PlcTombstone
export type PlcAnyOp = PlcOperation | PlcTombstone | PlcLegacyCreateOp

/** A DID's current state as the directory's `/<did>/data` returns it. */
export interface PlcDocumentData {
  did: string
  rotationKeys: string[]
  verificationMethods: Record<string, string>
  alsoKnownAs: string[]
  services: Record<string, PlcService>
}

/** One entry of `/<did>/log/audit` (and of `/export`). */
export interface PlcAuditEntry {
  did: string
  operation: PlcAnyOp
  cid: string
  nullified: boolean
  createdAt: string
}

/** What @did-plc/lib signs with (its @atproto/crypto Keypair): async, 64-byte compact signature. */
export interface PlcSigner {
  did(): string
  sign(msg: Uint8Array): Promise<Uint8Array>
}

/** The shape of a CID as the library's multiformats (v9) compares it: code, version, multihash. */
export interface LibCid {
  readonly version: number
  readonly code: number
  readonly multihash: { code: number; size: number; digest: Uint8Array; bytes: Uint8Array }
  toString(): string
}

export interface LibIndexedOperation {
  did: string
  operation: PlcAnyOp
  cid: LibCid
  nullified: boolean
  createdAt: Date
}

interface ZodLike {
  safeParse(value: unknown): { success: boolean }
}

interface PlcLib {
  createOp(opts: {
    signingKey: string
    handle: string
    pds: string
    rotationKeys: string[]
    signer: PlcSigner
  }): Promise<{ op: PlcOperation; did: string }>
  createUpdateOp(
    lastOp: PlcCompatibleOp,
    signer: PlcSigner,
    fn: (normalized: Omit<PlcUnsignedOperation, 'prev'>) => Omit<PlcUnsignedOperation, 'prev'>,
  ): Promise<PlcOperation>
  updateHandleOp(lastOp: PlcCompatibleOp, signer: PlcSigner, handle: string): Promise<PlcOperation>
  updateAtprotoKeyOp(lastOp: PlcCompatibleOp, signer: PlcSigner, atprotoKey: string): Promise<PlcOperation>
  updatePdsOp(lastOp: PlcCompatibleOp, signer: PlcSigner, endpoint: string): Promise<PlcOperation>
  updateRotationKeysOp(lastOp: PlcCompatibleOp, signer: PlcSigner, rotationKeys: string[]): Promise<PlcOperation>
  tombstoneOp(prev: { toString(): string }, signer: PlcSigner): Promise<PlcTombstone>
  didForCreateOp(op: PlcCompatibleOp, truncate?: number): Promise<string>
  normalizeOp(op: PlcCompatibleOp): PlcOperation
  assureValidOp(op: PlcOpOrTombstone): Promise<unknown>
  assureValidSig(allowedDids: string[], op: PlcAnyOp): Promise<string>
  assureValidNextOp(
    did: string,
    ops: LibIndexedOperation[],
    proposed: PlcAnyOp,
  ): Promise<{ nullified: LibCid[]; prev: LibCid | null }>
  validateOperationLog(did: string, ops: PlcAnyOp[]): Promise<PlcDocumentData | null>
  opToData(did: string, op: PlcAnyOp): PlcDocumentData | null
  def: { opOrTombstone: ZodLike; tombstone: ZodLike; operation: ZodLike; compatibleOp: ZodLike }
  PlcError: { is(obj: unknown): boolean }
}

// Loaded on first use, synchronously (the package is CommonJS): it and its zod schemas are
// several MB of resident memory that a PDS which is not creating or changing a DID (or serving
// the embedded directory) never needs.
const require = createRequire(import.meta.url)
let loaded: PlcLib | null = null

/** @did-plc/lib, typed. */
export function plc(): PlcLib {
  return (loaded ??= require('@did-plc/lib') as PlcLib)
}

/** True for the errors @did-plc/lib throws for an invalid operation (the directory answers 400). */
export function isPlcLibError(err: unknown): err is Error {
  return plc().PlcError.is(err)
}

export function isTombstone(op: PlcAnyOp): op is PlcTombstone {
  return op.type === 'plc_tombstone'
}

/** The CID (as a string) of an operation: sha-256 of its DAG-CBOR, as `prev` refers to it. */
export function opCid(op: PlcAnyOp): string {
  return cidForCbor(encodeCbor(op)).$link
}

/** A CID in the form the library's CID.equals accepts (it compares fields, not classes). */
export function toLibCid(cid: string): LibCid {
  const bytes = parseCid(cid).bytes
  // CIDv1: version, codec, then the multihash (code, size, digest); single-byte varints for
  // the codecs and sha-256 atproto uses.
  if (bytes[0] !== 1) throw new TypeError(`not a CIDv1: ${cid}`)
  const multihash = bytes.slice(2)
  return {
    version: 1,
    code: bytes[1],
    multihash: { code: multihash[0], size: multihash[1], digest: multihash.slice(2), bytes: multihash },
    toString: () => cid,
  }
}
