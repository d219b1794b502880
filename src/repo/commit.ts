// Repo commits (v3): the signed object at the root of every repo and every #commit event.
//   { did, version: 3, data: <MST root>, rev: <TID>, prev: <CID> | null, sig: <bytes> }
// The signature covers the DAG-CBOR encoding of the same map without `sig`; `prev` must be
// present even when null, because its key is part of the signed bytes. v2 commits (no `rev`
// required) are still found in old repos, so they can be read and verified, never written.
import { BytesWrapper, decodeCbor, type EncodedBlock, encodeCbor } from './cbor.ts'
import { type Cid, CODEC_DCBOR, cidCodec, cidForCbor, isCid } from './cid.ts'
import type { Keypair } from './crypto/keypair.ts'
import { verifySignature } from './crypto/verify.ts'
import { isValidDid, isValidTid } from './syntax.ts'

export interface UnsignedCommit {
  did: string
  version: 3
  data: Cid
  rev: string
  prev: Cid | null
}

export interface Commit extends UnsignedCommit {
  sig: Uint8Array
}

export interface LegacyCommitV2 {
  did: string
  version: 2
  data: Cid
  rev?: string
  prev: Cid | null
  sig: Uint8Array
}

export type VersionedCommit = Commit | LegacyCommitV2

export class CommitError extends Error {
  override name = 'CommitError'
}

const V3_FIELDS = ['did', 'version', 'data', 'rev', 'prev', 'sig'] as const
const V2_REQUIRED = ['did', 'version', 'data', 'prev', 'sig'] as const

/** The map that is signed: exactly the commit's fields minus `sig`, so stray properties never leak in. */
function unsignedMap(c: UnsignedCommit | Omit<LegacyCommitV2, 'sig'>): Record<string, unknown> {
  const map: Record<string, unknown> = { did: c.did, version: c.version, data: c.data, prev: c.prev }
  if (c.rev !== undefined) map.rev = c.rev
  return map
}

function checkFields(c: { did: unknown; data: unknown; rev: unknown; prev: unknown }, revRequired: boolean): void {
  if (!isValidDid(c.did)) throw new CommitError(`commit did is not a valid DID: ${JSON.stringify(c.did)}`)
  if (!isCid(c.data)) throw new CommitError('commit data is not a CID link')
  if (cidCodec(c.data) !== CODEC_DCBOR) throw new CommitError('commit data must be a dag-cbor CID (an MST node)')
  if (c.rev !== undefined || revRequired) {
    if (!isValidTid(c.rev)) throw new CommitError(`commit rev is not a valid TID: ${JSON.stringify(c.rev)}`)
  }
  if (c.prev !== null && !isCid(c.prev)) throw new CommitError('commit prev must be a CID link or null')
}

/** The bytes a commit signature covers. */
export function unsignedCommitBytes(unsigned: UnsignedCommit | Omit<LegacyCommitV2, 'sig'>): Uint8Array {
  return encodeCbor(unsignedMap(unsigned))
}

export function signCommit(unsigned: UnsignedCommit, keypair: Keypair): Commit {
  if (unsigned.version !== 3) throw new CommitError('only v3 commits are signed')
  checkFields(unsigned, true)
  const sig = keypair.sign(unsignedCommitBytes(unsigned))
  return { did: unsigned.did, version: 3, data: unsigned.data, rev: unsigned.rev, prev: unsigned.prev, sig }
}

export function encodeCommit(commit: Commit): EncodedBlock {
  if (!(commit.sig instanceof Uint8Array)) throw new CommitError('commit sig must be bytes')
  // @atcute/cbor writes CBOR bytes only for a BytesWrapper; a bare Uint8Array is refused.
  const bytes = encodeCbor({ ...unsignedMap(commit), sig: new BytesWrapper(commit.sig) })
  return { cid: cidForCbor(bytes), bytes }
}

function decodeAny(bytes: Uint8Array, allowV2: boolean): VersionedCommit {
  let value: unknown
  try {
    value = decodeCbor(bytes)
  } catch (err) {
    throw new CommitError(`commit is not valid DAG-CBOR: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value.constructor !== Object) {
    throw new CommitError('commit is not a CBOR map')
  }
  const map = value as Record<string, unknown>
  const version = map.version
  if (version !== 3 && !(version === 2 && allowV2)) {
    throw new CommitError(`unsupported commit version: ${JSON.stringify(version)}`)
  }
  const allowed: readonly string[] = V3_FIELDS
  const extra = Object.keys(map).filter((k) => !allowed.includes(k))
  if (extra.length > 0) throw new CommitError(`unexpected field(s) in commit: ${extra.join(', ')}`)
  const required: readonly string[] = version === 3 ? V3_FIELDS : V2_REQUIRED
  const missing = required.filter((k) => !(k in map))
  if (missing.length > 0) throw new CommitError(`commit is missing field(s): ${missing.join(', ')}`)

  checkFields(map as { did: unknown; data: unknown; rev: unknown; prev: unknown }, version === 3)
  // Any length is accepted: a wrong-sized signature is a failed verification, not an unreadable block.
  if (!(map.sig instanceof BytesWrapper)) throw new CommitError('commit sig is not bytes')

  // The decoder already refuses unsorted keys and overlong integers; re-encoding also catches
  // what it lets through (a float that happens to be integral, for one), so that the block's CID
  // is the one Hearth would compute for the same commit.
  if (!sameBytes(encodeCbor(map), bytes)) throw new CommitError('commit is not canonical DAG-CBOR')

  const base = {
    did: map.did as string,
    data: map.data as Cid,
    prev: map.prev as Cid | null,
    sig: map.sig.buf.slice(), // not a view: the commit must not pin a whole CAR buffer
  }
  if (version === 3) return { ...base, version: 3, rev: map.rev as string }
  const legacy: LegacyCommitV2 = { ...base, version: 2 }
  if (map.rev !== undefined) legacy.rev = map.rev as string
  return legacy
}

/** Decodes a v3 commit block, refusing anything that is not exactly the v3 shape. Throws CommitError. */
export function decodeCommit(bytes: Uint8Array): Commit {
  return decodeAny(bytes, false) as Commit
}

/** As decodeCommit, but also reads v2 commits (old repos, as @atproto/repo does when loading). */
export function decodeVersionedCommit(bytes: Uint8Array): VersionedCommit {
  return decodeAny(bytes, true)
}

/** Whether `commit.sig` is a valid signature by `didKey` over the commit. Never throws. */
export function verifyCommitSig(commit: VersionedCommit, didKey: string): boolean {
  let bytes: Uint8Array
  try {
    bytes = unsignedCommitBytes(commit)
  } catch {
    return false
  }
  return verifySignature(didKey, bytes, commit.sig)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
