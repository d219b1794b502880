import { CarError } from './errors.ts'

// Unsigned LEB128 varints, the length prefix of the CAR header and of every section.
// Values stay below 2^53: every length Hearth accepts is far smaller, and the decoder refuses
// anything over the caller's limit before the arithmetic could lose precision.

/** The unsigned-varint spec allows 9 bytes; 10 covers a full 64-bit value from lax writers. */
export const MAX_VARINT_BYTES = 10

export function varintLength(value: number): number {
  if (value < 0x80) return 1
  if (value < 0x4000) return 2
  if (value < 0x200000) return 3
  if (value < 0x10000000) return 4
  let n = 4
  value = Math.floor(value / 0x10000000)
  while (value > 0) {
    n++
    value = Math.floor(value / 0x80)
  }
  return n
}

/** Writes `value` at `pos`; returns the position after it. The caller sized the buffer. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  // Bitwise operators truncate to 32 bits, so only use them once the value fits.
  while (value >= 0x80000000) {
    buf[pos++] = (value % 0x80) | 0x80
    value = Math.floor(value / 0x80)
  }
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80
    value >>>= 7
  }
  buf[pos++] = value
  return pos
}

export function encodeVarint(value: number): Uint8Array {
  const buf = new Uint8Array(varintLength(value))
  writeVarint(buf, 0, value)
  return buf
}

/**
 * Index just past the varint starting at `pos`, or -1 if it runs past `end` (the rest may be in
 * the next chunk). Throws once MAX_VARINT_BYTES bytes all carry the continuation bit, so a
 * stream of 0x80 bytes cannot keep the reader looping.
 */
export function varintEnd(buf: Uint8Array, pos: number, end: number): number {
  const stop = Math.min(end, pos + MAX_VARINT_BYTES)
  for (let i = pos; i < stop; i++) if (buf[i] < 0x80) return i + 1
  if (stop - pos === MAX_VARINT_BYTES) throw new CarError(`varint longer than ${MAX_VARINT_BYTES} bytes`)
  return -1
}

/** Decodes a varint already known to be complete (see varintEnd). */
export function decodeVarintAt(buf: Uint8Array, pos: number): number {
  let value = 0
  let mul = 1
  for (;;) {
    const b = buf[pos++]
    value += (b & 0x7f) * mul
    if (b < 0x80) return value
    mul *= 0x80
  }
}
