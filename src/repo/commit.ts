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
import { asciiSize, bytesSize, cidSize, isAscii, writeAscii, writeBytes, writeCid } from './cbor-write.ts'

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

// Map keys in DAG-CBOR order (shorter first, then bytewise): did, rev, sig, data, prev, version.
const KEY_DID = [0x63, 0x64, 0x69, 0x64]
const KEY_REV = [0x63, 0x72, 0x65, 0x76]
const KEY_SIG = [0x63, 0x73, 0x69, 0x67]
const KEY_DATA = [0x64, 0x64, 0x61, 0x74, 0x61]
const KEY_PREV = [0x64, 0x70, 0x72, 0x65, 0x76]
const KEY_VERSION = [0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e]

function put(buf: Uint8Array, pos: number, bytes: readonly number[]): number {
  for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i] as number
  return pos
}

/**
 * The commit map, with `sig` or without, written straight into one exactly-sized buffer: a
 * commit is encoded twice on every write (the signed-over bytes, then the block), and its shape
 * is fixed. Anything outside that shape (a non-ASCII string, a field of the wrong type, from a
 * decoded commit being verified) goes through the generic encoder, which gives the same bytes
 * where both apply (test/repo/commit.test.ts compares them).
 */
function commitMapBytes(c: UnsignedCommit | Omit<LegacyCommitV2, 'sig'>, sig: Uint8Array | null): Uint8Array {
  const { did, rev, data, prev, version } = c
  if (
    typeof did !== 'string' ||
    !isAscii(did) ||
    (rev !== undefined && (typeof rev !== 'string' || !isAscii(rev))) ||
    !isCid(data) ||
    (prev !== null && !isCid(prev)) ||
    (version !== 2 && version !== 3)
  ) {
    const map = unsignedMap(c)
    // @atcute/cbor writes CBOR bytes only for a BytesWrapper; a bare Uint8Array is refused.
    if (sig) map.sig = new BytesWrapper(sig)
    return encodeCbor(map)
  }
  const size =
    1 +
    KEY_DID.length + asciiSize(did) +
    (rev === undefined ? 0 : KEY_REV.length + asciiSize(rev)) +
    (sig === null ? 0 : KEY_SIG.length + bytesSize(sig)) +
    KEY_DATA.length + cidSize(data) +
    KEY_PREV.length + cidSize(prev) +
    KEY_VERSION.length + 1
  const buf = new Uint8Array(size)
  buf[0] = 0xa0 | (4 + (rev === undefined ? 0 : 1) + (sig === null ? 0 : 1))
  let pos = put(buf, 1, KEY_DID)
  pos = writeAscii(buf, pos, did)
  if (rev !== undefined) pos = writeAscii(buf, put(buf, pos, KEY_REV), rev)
  if (sig !== null) pos = writeBytes(buf, put(buf, pos, KEY_SIG), sig)
  pos = writeCid(buf, put(buf, pos, KEY_DATA), data)
  pos = writeCid(buf, put(buf, pos, KEY_PREV), prev)
  pos = put(buf, pos, KEY_VERSION)
  buf[pos++] = version
  if (pos !== size) throw new Error(`commit encoding size mismatch: ${pos} != ${size}`)
  return buf
}

/** The bytes a commit signature covers. */
export function unsignedCommitBytes(unsigned: UnsignedCommit | Omit<LegacyCommitV2, 'sig'>): Uint8Array {
  return commitMapBytes(unsigned, null)
}

export function signCommit(unsigned: UnsignedCommit, keypair: Keypair): Commit {
  if (unsigned.version !== 3) throw new CommitError('only v3 commits are signed')
  checkFields(unsigned, true)
  const sig = keypair.sign(unsignedCommitBytes(unsigned))
  return { did: unsigned.did, version: 3, data: unsigned.data, rev: unsigned.rev, prev: unsigned.prev, sig }
}

export function encodeCommit(commit: Commit): EncodedBlock {
  if (!(commit.sig instanceof Uint8Array)) throw new CommitError('commit sig must be bytes')
  const bytes = commitMapBytes(commit, commit.sig)
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
