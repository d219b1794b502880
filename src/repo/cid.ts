// CIDs as Hearth holds them: @atcute's CidLinkWrapper, i.e. the raw CIDv1 bytes with a lazily
// computed base32 string. It is what the CBOR decoder yields for tag 42 and what the encoder
// writes back, so records and MST nodes move between bytes and values without conversion.
import * as nodeCrypto from 'node:crypto'
import { fromBase32 } from '@atcute/multibase'
import {
  CidLinkWrapper,
  CODEC_DCBOR,
  CODEC_RAW,
  decode as decodeCidBytes,
  fromString as parseBase32Cid,
  HASH_SHA256,
} from '@atcute/cid'

export type Cid = CidLinkWrapper
export { CODEC_DCBOR, CODEC_RAW }

const PREFIX_LEN = 4 // version, codec, hash code, digest length

function fromDigest(codec: number, digest: Uint8Array): Cid {
  const bytes = new Uint8Array(PREFIX_LEN + 32)
  bytes[0] = 1
  bytes[1] = codec
  bytes[2] = HASH_SHA256
  bytes[3] = 32
  bytes.set(digest, PREFIX_LEN)
  return new CidLinkWrapper(bytes)
}

// crypto.hash (Node >= 20.12) skips the Hash object and is about twice as fast for small
// inputs such as records and MST nodes; older Node 20 releases fall back to createHash.
type OneShotHash = (alg: string, data: Uint8Array | string, enc: 'buffer') => Uint8Array
const oneShot = (nodeCrypto as unknown as { hash?: OneShotHash }).hash

export const sha256: (data: Uint8Array | string) => Uint8Array =
  typeof oneShot === 'function'
    ? (data) => oneShot('sha256', data, 'buffer')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest()

/** CID of DAG-CBOR encoded bytes. */
export function cidForCbor(bytes: Uint8Array): Cid {
  return fromDigest(CODEC_DCBOR, sha256(bytes))
}

/** CID of raw bytes (blobs). */
export function cidForRaw(bytes: Uint8Array): Cid {
  return fromDigest(CODEC_RAW, sha256(bytes))
}

/** CID of raw bytes from their sha-256 digest, for blobs hashed as they stream in. */
export function cidForRawDigest(digest: Uint8Array): Cid {
  if (digest.length !== 32) throw new TypeError('a sha-256 digest is 32 bytes')
  return fromDigest(CODEC_RAW, digest)
}

/**
 * The longest CID string worth decoding: a CIDv1 with a sha-512 digest is 110 characters in
 * base32. Longer strings are refused before any decoding, whatever the base.
 */
export const MAX_CID_STRING_LENGTH = 128

/** Parses a base32 CIDv1 string; only the dag-cbor and raw codecs with sha-256 are atproto CIDs. */
export function parseCid(str: string): Cid {
  if (str.length > MAX_CID_STRING_LENGTH) throw new TypeError(`CID string too long (over ${MAX_CID_STRING_LENGTH} characters)`)
  const cid = parseBase32Cid(str)
  checkAtprotoCid(cid.codec, cid.digest.codec, cid.digest.contents.length)
  return new CidLinkWrapper(cid.bytes)
}

/**
 * parseCid for a string Hearth wrote itself (a CID column of its own tables), which is the
 * canonical form: the CID keeps it as its `$link`, so turning it back into a string (every
 * record a read returns) costs nothing. Never for strings from outside.
 */
export function parseStoredCid(str: string): Cid {
  const cid = parseCid(str)
  Object.defineProperty(cid, '$link', { value: str, enumerable: true })
  return cid
}

/**
 * The binary form of a CID string Hearth wrote itself (as parseStoredCid: never for strings from
 * outside), without building a CID: a streamed export (getRepo) needs only the bytes.
 */
export function storedCidBytes(str: string): Uint8Array {
  if (str.charCodeAt(0) !== 0x62 /* b */) throw new TypeError('stored CID is not base32')
  return fromBase32(str.slice(1))
}

// Base32 (RFC 4648, lowercase, unpadded) character → 5-bit value; 0xff for anything else.
const BASE32_VALUES = (() => {
  const t = new Uint8Array(128).fill(0xff)
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  for (let i = 0; i < 32; i++) t[alphabet.charCodeAt(i)] = i
  return t
})()

/** Bytes of the CID that `str.slice(start, end)` names as a stored CID string ('b' and base32). */
export function storedCidLength(start: number, end: number): number {
  return Math.floor(((end - start - 1) * 5) / 8)
}

/**
 * storedCidBytes for the CID string at `str[start, end)` written straight into `out` at `pos`
 * (sized by the caller with storedCidLength): a streamed export decodes a page of CIDs held in
 * one string without a string or a buffer per CID. Returns the position after it. As
 * storedCidBytes, for strings Hearth's tables hold, never for strings from outside; a character
 * outside the alphabet still throws rather than writing wrong bytes.
 */
export function writeStoredCidBytes(str: string, start: number, end: number, out: Uint8Array, pos: number): number {
  if (end > str.length) throw new RangeError('stored CID runs past its string')
  if (str.charCodeAt(start) !== 0x62 /* b */) throw new TypeError('stored CID is not base32')
  let i = start + 1
  // Eight characters are five bytes: whole groups first, then the tail a bit at a time.
  for (const groupsEnd = end - ((end - i) % 8); i < groupsEnd; i += 8) {
    const k0 = str.charCodeAt(i)
    const k1 = str.charCodeAt(i + 1)
    const k2 = str.charCodeAt(i + 2)
    const k3 = str.charCodeAt(i + 3)
    const k4 = str.charCodeAt(i + 4)
    const k5 = str.charCodeAt(i + 5)
    const k6 = str.charCodeAt(i + 6)
    const k7 = str.charCodeAt(i + 7)
    // One check for the group: nothing past ASCII (outside the table), then nothing outside the alphabet.
    if ((k0 | k1 | k2 | k3 | k4 | k5 | k6 | k7) > 0x7f) throw new TypeError('stored CID is not base32')
    const v0 = BASE32_VALUES[k0] as number
    const v1 = BASE32_VALUES[k1] as number
    const v2 = BASE32_VALUES[k2] as number
    const v3 = BASE32_VALUES[k3] as number
    const v4 = BASE32_VALUES[k4] as number
    const v5 = BASE32_VALUES[k5] as number
    const v6 = BASE32_VALUES[k6] as number
    const v7 = BASE32_VALUES[k7] as number
    if ((v0 | v1 | v2 | v3 | v4 | v5 | v6 | v7) > 31) throw new TypeError('stored CID is not base32')
    out[pos] = (v0 << 3) | (v1 >>> 2)
    out[pos + 1] = ((v1 << 6) | (v2 << 1) | (v3 >>> 4)) & 0xff
    out[pos + 2] = ((v3 << 4) | (v4 >>> 1)) & 0xff
    out[pos + 3] = ((v4 << 7) | (v5 << 2) | (v6 >>> 3)) & 0xff
    out[pos + 4] = ((v6 << 5) | v7) & 0xff
    pos += 5
  }
  let acc = 0
  let bits = 0
  for (; i < end; i++) {
    const v = base32Value(str, i)
    if (v > 31) throw new TypeError('stored CID is not base32')
    acc = ((acc << 5) | v) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[pos++] = (acc >>> bits) & 0xff
    }
  }
  return pos
}

function base32Value(str: string, i: number): number {
  const c = str.charCodeAt(i)
  return c < 128 ? (BASE32_VALUES[c] as number) : 0xff
}

/** Reads CID bytes (no multibase prefix), as found in CAR section headers and MST nodes. */
export function cidFromBytes(bytes: Uint8Array): Cid {
  const cid = decodeCidBytes(bytes)
  checkAtprotoCid(cid.codec, cid.digest.codec, cid.digest.contents.length)
  return new CidLinkWrapper(cid.bytes)
}

function checkAtprotoCid(codec: number, hash: number, digestLen: number): void {
  if (codec !== CODEC_DCBOR && codec !== CODEC_RAW) throw new TypeError(`unsupported CID codec 0x${codec.toString(16)}`)
  if (hash !== HASH_SHA256 || digestLen !== 32) throw new TypeError('CID hash must be sha-256')
}

export function isCid(value: unknown): value is Cid {
  return value instanceof CidLinkWrapper
}

export function cidEquals(a: Cid | null | undefined, b: Cid | null | undefined): boolean {
  if (a === b) return true
  if (!a || !b) return false
  const x = a.bytes
  const y = b.bytes
  if (x.length !== y.length) return false
  // Compare from the end: the digest differs early there, the prefix almost never does.
  for (let i = x.length - 1; i >= 0; i--) if (x[i] !== y[i]) return false
  return true
}

export function cidCodec(cid: Cid): number {
  return cid.bytes[1]
}

/** Verifies that bytes hash to the given CID. */
export function bytesMatchCid(cid: Cid, bytes: Uint8Array): boolean {
  const b = cid.bytes
  if (b.length !== PREFIX_LEN + 32 || b[2] !== HASH_SHA256) return false
  const digest = sha256(bytes)
  for (let i = 0; i < 32; i++) if (digest[i] !== b[PREFIX_LEN + i]) return false
  return true
}
