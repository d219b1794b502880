// Pieces for writing DAG-CBOR of a fixed shape straight into an exactly-sized buffer (MST
// nodes, commits, #commit event bodies): size every part first, then write each once. The
// generic encoder grows chunks and joins them, and needs the values as objects; these shapes
// are written on every commit. Each user's tests compare its bytes with the generic encoder's.
import type { Cid } from './cid.ts'

/** Bytes of a CBOR head (major type + argument) for `n`. */
export function headerSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

export function writeHeader(buf: Uint8Array, pos: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) {
    buf[pos] = m | n
    return pos + 1
  }
  if (n < 0x100) {
    buf[pos] = m | 24
    buf[pos + 1] = n
    return pos + 2
  }
  if (n < 0x10000) {
    buf[pos] = m | 25
    buf[pos + 1] = n >> 8
    buf[pos + 2] = n & 0xff
    return pos + 3
  }
  if (n >= 0x100000000) throw new RangeError('CBOR length too large')
  buf[pos] = m | 26
  buf[pos + 1] = n >>> 24
  buf[pos + 2] = (n >> 16) & 0xff
  buf[pos + 3] = (n >> 8) & 0xff
  buf[pos + 4] = n & 0xff
  return pos + 5
}

/** A CID link (tag 42 over 0x00 + the CID's bytes), or null. */
export function cidSize(cid: Cid | null): number {
  return cid === null ? 1 : 2 + headerSize(cid.bytes.length + 1) + 1 + cid.bytes.length
}

export function writeCid(buf: Uint8Array, pos: number, cid: Cid | null): number {
  if (cid === null) {
    buf[pos] = 0xf6
    return pos + 1
  }
  const bytes = cid.bytes
  buf[pos] = 0xd8
  buf[pos + 1] = 0x2a
  pos = writeHeader(buf, pos + 2, 2, bytes.length + 1)
  buf[pos++] = 0
  // A plain loop beats TypedArray#set for 36 bytes.
  for (let j = 0; j < bytes.length; j++) buf[pos++] = bytes[j] as number
  return pos
}

/** Whether `s` is all ASCII, so its UTF-8 bytes are its char codes (callers fall back otherwise). */
export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** A text string whose characters are all ASCII (checked by the caller with isAscii). */
export function asciiSize(s: string): number {
  return headerSize(s.length) + s.length
}

export function writeAscii(buf: Uint8Array, pos: number, s: string): number {
  pos = writeHeader(buf, pos, 3, s.length)
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
  return pos
}

/** A byte string. */
export function bytesSize(b: Uint8Array): number {
  return headerSize(b.length) + b.length
}

export function writeBytes(buf: Uint8Array, pos: number, b: Uint8Array): number {
  pos = writeHeader(buf, pos, 2, b.length)
  buf.set(b, pos)
  return pos + b.length
}
