// A stored record's DAG-CBOR written straight out as its atproto JSON text (CID links as
// `{"$link"}`, bytes as `{"$bytes"}`), without building the value as objects first: reads
// (getRecord, listRecords) answer with the bytes they stored, and decoding each record into
// objects, converting those to the JSON form and stringifying them was most of what a
// listRecords cost besides SQLite and the socket.
//
// The writer takes the canonical, integer-only encodings Hearth stores. Anything else (a float,
// an integer past 2^53, a non-canonical length, unsorted keys, invalid UTF-8, nesting past the
// limit, a CID that is not a v1 sha-256) raises `NotFastJson`, and the caller falls back to the
// decoder (`decodeCbor` + `lexToJson`), which serves or refuses it exactly as before.
import { toBase32, toBase64 } from '@atcute/multibase'
import { isUtf8 } from 'node:buffer'
import { decodeCbor } from './cbor.ts'
import { lexToJson } from './data-model.ts'
import { MAX_NESTING_DEPTH } from './nesting.ts'

export class NotFastJson extends Error {
  override name = 'NotFastJson'
}

const notFast = new NotFastJson('value needs the general decoder')

// Characters a JSON string must escape, and anything outside ASCII.
const NEEDS_CARE = /[\u0000-\u001f"\\\u007f-\uffff]/

/** A growable byte buffer of JSON text. */
export class JsonOut {
  buf: Buffer
  pos = 0

  constructor(size = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(size)
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** ASCII text that needs no escaping (punctuation, keys known in advance). */
  raw(s: string): void {
    this.reserve(s.length)
    const buf = this.buf
    let o = this.pos
    for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i)
    this.pos = o
  }

  /** A JS string as a JSON string literal. */
  string(s: string): void {
    if (NEEDS_CARE.test(s)) {
      // Escapes or non-ASCII: the general way (rare in URIs, CIDs and rkeys).
      this.json(JSON.stringify(s))
      return
    }
    this.reserve(s.length + 2)
    const buf = this.buf
    buf[this.pos++] = 0x22
    this.pos += buf.write(s, this.pos, 'latin1')
    buf[this.pos++] = 0x22
  }

  /** Any JSON text (UTF-8). */
  json(text: string): void {
    this.reserve(text.length * 3)
    this.pos += this.buf.write(text, this.pos, 'utf8')
  }

  /** The text written so far (a view of the buffer, not a copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

/**
 * Writes the JSON form of the DAG-CBOR value `bytes` holds. On `NotFastJson` the output is left
 * where it was, so the caller can write the value another way.
 */
export function writeCborAsJson(bytes: Uint8Array, out: JsonOut): void {
  const start = out.pos
  try {
    const end = value(bytes, 0, out, 0)
    if (end !== bytes.length) throw notFast
  } catch (err) {
    out.pos = start
    throw err
  }
}

/** A stored record's JSON form: the fast writer, or the general decoder for what it does not take. */
export function writeRecordJson(bytes: Uint8Array, out: JsonOut): void {
  try {
    writeCborAsJson(bytes, out)
  } catch (err) {
    if (!(err instanceof NotFastJson)) throw err
    out.json(JSON.stringify(lexToJson(decodeCbor(bytes))))
  }
}

// The argument of a head byte at `p`; sets `argEnd` to the position after it. -1 for what the
// fast path does not take (indefinite lengths, 8-byte arguments past 2^53, non-canonical forms).
let argEnd = 0
function arg(b: Uint8Array, p: number): number {
  const info = b[p] & 0x1f
  if (info < 24) {
    argEnd = p + 1
    return info
  }
  if (p + 1 + (1 << (info - 24)) > b.length) throw notFast
  let v: number
  switch (info) {
    case 24:
      v = b[p + 1]
      if (v < 24) throw notFast
      argEnd = p + 2
      return v
    case 25:
      v = (b[p + 1] << 8) | b[p + 2]
      if (v < 0x100) throw notFast
      argEnd = p + 3
      return v
    case 26:
      v = (b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4])) >>> 0
      if (v < 0x10000) throw notFast
      argEnd = p + 5
      return v
    case 27: {
      const hi = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4])
      const lo = b[p + 5] * 0x1000000 + ((b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8])
      if (hi === 0 || hi >= 0x200000) throw notFast
      argEnd = p + 9
      return hi * 0x100000000 + lo
    }
    default:
      throw notFast
  }
}

function value(b: Uint8Array, p: number, out: JsonOut, depth: number): number {
  if (p >= b.length) throw notFast
  const head = b[p]
  const type = head >> 5
  if (type === 7) {
    if (head === 0xf5) out.raw('true')
    else if (head === 0xf4) out.raw('false')
    else if (head === 0xf6) out.raw('null')
    else throw notFast
    return p + 1
  }
  const n = arg(b, p)
  let q = argEnd
  switch (type) {
    case 0:
      out.raw(String(n))
      return q
    case 1:
      if (n >= Number.MAX_SAFE_INTEGER) throw notFast
      out.raw(String(-1 - n))
      return q
    case 2:
      if (q + n > b.length) throw notFast
      out.raw('{"$bytes":"')
      out.raw(toBase64(b.subarray(q, q + n)))
      out.raw('"}')
      return q + n
    case 3:
      return text(b, q, n, out)
    case 4: {
      if (depth >= MAX_NESTING_DEPTH) throw notFast
      out.reserve(1)
      out.buf[out.pos++] = 0x5b // [
      for (let i = 0; i < n; i++) {
        if (i > 0) {
          out.reserve(1)
          out.buf[out.pos++] = 0x2c // ,
        }
        q = value(b, q, out, depth + 1)
      }
      out.reserve(1)
      out.buf[out.pos++] = 0x5d // ]
      return q
    }
    case 5: {
      if (depth >= MAX_NESTING_DEPTH) throw notFast
      out.reserve(1)
      out.buf[out.pos++] = 0x7b // {
      let prevStart = 0
      let prevLen = -1
      for (let i = 0; i < n; i++) {
        if (q >= b.length || b[q] >> 5 !== 3) throw notFast
        const len = arg(b, q)
        const ks = argEnd
        if (ks + len > b.length) throw notFast
        // Canonical order: shorter keys first, then bytewise.
        if (len < prevLen) throw notFast
        if (len === prevLen) {
          let cmp = 0
          for (let j = 0; j < len && cmp === 0; j++) cmp = b[ks + j] - b[prevStart + j]
          if (cmp <= 0) throw notFast
        }
        prevStart = ks
        prevLen = len
        if (i > 0) {
          out.reserve(1)
          out.buf[out.pos++] = 0x2c // ,
        }
        q = text(b, ks, len, out)
        out.reserve(1)
        out.buf[out.pos++] = 0x3a // :
        q = value(b, q, out, depth + 1)
      }
      out.reserve(1)
      out.buf[out.pos++] = 0x7d // }
      return q
    }
    case 6: {
      // Tag 42, a CID link: bytes holding 0x00 then the binary CID (v1, sha-256 of 32 bytes).
      if (n !== 42 || q >= b.length || b[q] >> 5 !== 2) throw notFast
      const len = arg(b, q)
      const cs = argEnd
      if (len !== 37 || cs + len > b.length) throw notFast
      if (b[cs] !== 0 || b[cs + 1] !== 0x01 || (b[cs + 2] !== 0x71 && b[cs + 2] !== 0x55) || b[cs + 3] !== 0x12 || b[cs + 4] !== 0x20) throw notFast
      out.raw('{"$link":"b')
      out.raw(toBase32(b.subarray(cs + 1, cs + len)))
      out.raw('"}')
      return cs + len
    }
    default:
      throw notFast
  }
}

/** A UTF-8 text string as a JSON string literal: copied as is unless it needs escaping. */
function text(b: Uint8Array, start: number, len: number, out: JsonOut): number {
  const end = start + len
  if (end > b.length) throw notFast
  // The common case in one pass: printable ASCII, copied as it is scanned.
  out.reserve(len + 2)
  const buf = out.buf
  let o = out.pos
  buf[o++] = 0x22
  let i = start
  for (; i < end; i++) {
    const c = b[i]
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80) break
    buf[o++] = c
  }
  if (i === end) {
    buf[o++] = 0x22
    out.pos = o
    return end
  }
  let plain = true
  for (; i < end; i++) {
    const c = b[i]
    if (c < 0x20 || c === 0x22 || c === 0x5c) {
      plain = false
      break
    }
  }
  const sub = b.subarray(start, end)
  // (A string that needs escaping left the loop early: its validity is not known yet.)
  if (!isUtf8(sub)) throw notFast
  if (plain) {
    // Valid UTF-8 holds no lone surrogate, so JSON.stringify would leave every byte as it is.
    out.reserve(len + 2)
    out.buf[out.pos++] = 0x22
    out.buf.set(sub, out.pos)
    out.pos += len
    out.buf[out.pos++] = 0x22
  } else {
    out.json(JSON.stringify(Buffer.from(sub.buffer, sub.byteOffset, sub.byteLength).toString('utf8')))
  }
  return end
}
