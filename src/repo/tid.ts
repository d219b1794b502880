// TIDs: 64-bit identifiers (top bit 0, 53 bits of microseconds since the epoch, 10 bits of clock
// id) written as 13 base32-sortable characters, so string order is time order. They name records
// and order commits (`rev`).
//
// The encoding avoids BigInt: the last two characters are exactly the 10-bit clock id, and the
// first eleven are the microseconds, which fit a double exactly and split into a 25-bit and a
// 30-bit half that int32 arithmetic can handle. A 1024-entry table turns each 10 bits into two
// characters at once.
import { randomInt } from 'node:crypto'
import { isValidTid } from './syntax.ts'

export { isValidTid }

const ALPHABET = '234567abcdefghijklmnopqrstuvwxyz'
const PAIRS: string[] = []
for (let i = 0; i < 1024; i++) PAIRS.push(ALPHABET[i >> 5] + ALPHABET[i & 31])
const VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 32; i++) VALUE[ALPHABET.charCodeAt(i)] = i

const TWO_30 = 2 ** 30
export const MAX_TID_MICROS = Number.MAX_SAFE_INTEGER // 2^53 - 1, the 53 bits of the layout
export const MAX_CLOCK_ID = 1023

/** Builds a TID; `micros` is microseconds since the Unix epoch. */
export function encodeTid(micros: number, clockId: number): string {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new RangeError(`TID timestamp out of range: ${micros}`)
  if (!Number.isInteger(clockId) || clockId < 0 || clockId > MAX_CLOCK_ID) throw new RangeError(`TID clock id out of range: ${clockId}`)
  return encodeUnchecked(micros, clockId)
}

function encodeUnchecked(micros: number, clockId: number): string {
  const hi = Math.floor(micros / TWO_30) // up to 23 bits, written as 25
  const lo = micros % TWO_30
  return (
    ALPHABET[hi >> 20] +
    PAIRS[(hi >> 10) & 1023] +
    PAIRS[hi & 1023] +
    PAIRS[lo >> 20] +
    PAIRS[(lo >> 10) & 1023] +
    PAIRS[lo & 1023] +
    PAIRS[clockId]
  )
}

export interface TidParts {
  micros: number
  clockId: number
}

export function decodeTid(tid: string): TidParts {
  if (!isValidTid(tid)) throw new TypeError(`invalid TID: ${JSON.stringify(tid)}`)
  let hi = 0
  for (let i = 0; i < 5; i++) hi = (hi << 5) | VALUE[tid.charCodeAt(i)]
  let lo = 0
  for (let i = 5; i < 11; i++) lo = (lo << 5) | VALUE[tid.charCodeAt(i)]
  const micros = hi * TWO_30 + lo
  // The syntax admits a set top bit (first character after 'b'); such a TID has no exact double.
  if (micros > MAX_TID_MICROS) throw new RangeError(`TID timestamp beyond 2^53 microseconds: ${tid}`)
  return { micros, clockId: (VALUE[tid.charCodeAt(11)] << 5) | VALUE[tid.charCodeAt(12)] }
}

export function tidToTimestampMicros(tid: string): number {
  return decodeTid(tid).micros
}

export interface TidClockOptions {
  /** 0–1023; random by default, so two processes rarely mint the same TID in the same microsecond. */
  clockId?: number
  /** Wall clock in milliseconds; injectable for tests. */
  now?: () => number
}

/**
 * Mints TIDs that are strictly increasing within the process. When called faster than once per
 * microsecond, or when the wall clock steps back, it runs ahead of the clock by one microsecond
 * per TID until the clock catches up, rather than ever repeating or going backwards.
 */
export class TidClock {
  readonly clockId: number
  private readonly now: () => number
  private last = 0

  constructor(opts: TidClockOptions = {}) {
    this.clockId = opts.clockId ?? randomInt(MAX_CLOCK_ID + 1)
    if (!Number.isInteger(this.clockId) || this.clockId < 0 || this.clockId > MAX_CLOCK_ID) {
      throw new RangeError(`TID clock id out of range: ${this.clockId}`)
    }
    this.now = opts.now ?? Date.now
  }

  next(): string {
    const wall = Math.floor(this.now() * 1000)
    const micros = wall > this.last ? wall : this.last + 1
    this.last = micros
    return encodeUnchecked(micros, this.clockId)
  }

  /**
   * A TID strictly greater than `prev` (and than anything this clock minted before), e.g. the
   * next commit `rev` of a repo whose last rev may have come from another clock or machine.
   */
  nextAfter(prev: string | null): string {
    if (prev !== null) {
      const { micros } = decodeTid(prev)
      if (micros >= MAX_TID_MICROS) throw new RangeError(`no TID follows ${prev}`)
      // Any later microsecond sorts after prev whatever its clock id.
      if (micros > this.last) this.last = micros
    }
    return this.next()
  }
}

export const defaultTidClock = new TidClock()

export function nextTid(): string {
  return defaultTidClock.next()
}
