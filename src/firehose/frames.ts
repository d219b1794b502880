// Event-stream frames: a CBOR header ({op: 1, t: '#commit'} or {op: -1} for errors) followed by
// the CBOR body, in one binary WebSocket message.
import { encodeCbor } from '../repo/cbor.ts'
import type { SeqRow } from '../sequencer/sequencer.ts'

const TYPES: Record<string, string> = {
  append: '#commit',
  sync: '#sync',
  identity: '#identity',
  account: '#account',
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const HEADERS = new Map(Object.entries(TYPES).map(([type, t]) => [type, encodeCbor({ op: 1, t })]))
const SEQ_KEY = encodeCbor('seq')
const TIME_KEY = encodeCbor('time')

/**
 * The frame for a stored event: its body plus `seq` and `time`. The stored body is canonical
 * DAG-CBOR already, so the two entries are spliced in at their canonical places (keys ordered
 * by length, then bytewise) instead of decoding and re-encoding the whole body, blocks and all:
 * the bytes are the same as encoding the decoded body with them added, at a fraction of the
 * cost, which is what replaying a long log from an old cursor pays per event.
 */
export function eventFrame(row: SeqRow): Uint8Array {
  const header = HEADERS.get(row.eventType)
  if (!header) throw new Error(`unknown event type ${row.eventType}`)
  return withSeqAndTime(header, row.event, row.seq, row.sequencedAt)
}

/** `header` followed by the map `body` with `seq` and `time` set (replacing any already there). */
export function withSeqAndTime(header: Uint8Array, body: Uint8Array, seq: number, time: string): Uint8Array {
  if (readHead(body, 0) !== 5) throw new Error('event body is not a CBOR map')
  const count = headArg
  const start = headEnd
  const added: Array<[string, Uint8Array, Uint8Array]> = [
    ['seq', SEQ_KEY, uintItem(seq)],
    ['time', TIME_KEY, textItem(time)],
  ]
  // Runs of the body to copy, and the new entries between them, in order.
  const parts: Uint8Array[] = []
  let kept = 0
  let runStart = start
  let p = start
  let next = 0
  for (let i = 0; i < count; i++) {
    if (readHead(body, p) !== 3) throw new Error('event body has a key that is not a string')
    const keyLen = headArg
    const keyAt = headEnd
    const key = latin1(body, keyAt, keyLen)
    const end = skipItem(body, keyAt + keyLen)
    for (; next < added.length && keyBefore((added[next] as [string, Uint8Array, Uint8Array])[0], key); next++) {
      const [, k, v] = added[next] as [string, Uint8Array, Uint8Array]
      parts.push(body.subarray(runStart, p), k, v)
      runStart = p
    }
    if (key === 'seq' || key === 'time') {
      // Replaced by ours: leave the old entry out.
      parts.push(body.subarray(runStart, p))
      runStart = end
    } else kept++
    p = end
  }
  parts.push(body.subarray(runStart, p))
  for (; next < added.length; next++) {
    const [, k, v] = added[next] as [string, Uint8Array, Uint8Array]
    parts.push(k, v)
  }
  const head = mapHead(kept + added.length)
  let total = header.length + head.length
  for (const part of parts) total += part.length
  const out = new Uint8Array(total)
  out.set(header, 0)
  out.set(head, header.length)
  let at = header.length + head.length
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

function uintItem(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(n)
  if (n < 0x100) return Uint8Array.of(0x18, n)
  if (n < 0x10000) return Uint8Array.of(0x19, n >> 8, n & 0xff)
  if (n < 0x100000000) return Uint8Array.of(0x1a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
  return encodeCbor(n)
}

/** A text item; `time` is an ISO date, ASCII, so its length in bytes is its length. */
function textItem(s: string): Uint8Array {
  if (!/^[\x20-\x7e]{0,255}$/.test(s)) return encodeCbor(s)
  const head = s.length < 24 ? 1 : 2
  const out = new Uint8Array(head + s.length)
  if (head === 1) out[0] = 0x60 | s.length
  else {
    out[0] = 0x78
    out[1] = s.length
  }
  for (let i = 0; i < s.length; i++) out[head + i] = s.charCodeAt(i)
  return out
}

/** DAG-CBOR map key order: shorter first, then bytewise. */
function keyBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b
}

function latin1(b: Uint8Array, at: number, len: number): string {
  let s = ''
  for (let i = at; i < at + len; i++) s += String.fromCharCode(b[i] as number)
  return s
}

function mapHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0xa0 | n)
  if (n < 256) return Uint8Array.of(0xb8, n)
  return Uint8Array.of(0xb9, n >> 8, n & 0xff)
}

// readHead's results besides the major type: no array per item on this hot path.
let headArg = 0
let headEnd = 0

/** A data item's major type; its argument goes in headArg, where its head ends in headEnd. */
function readHead(b: Uint8Array, p: number): number {
  const ib = b[p]
  if (ib === undefined) throw new Error('truncated CBOR')
  const info = ib & 0x1f
  if (info < 24) {
    headArg = info
    headEnd = p + 1
  } else if (info === 24) {
    headArg = b[p + 1] as number
    headEnd = p + 2
  } else if (info === 25) {
    headArg = ((b[p + 1] as number) << 8) | (b[p + 2] as number)
    headEnd = p + 3
  } else if (info === 26) {
    headArg = (b[p + 1] as number) * 0x1000000 + (((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 8) | (b[p + 4] as number))
    headEnd = p + 5
  } else if (info === 27) {
    headArg = Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(p + 1))
    headEnd = p + 9
  } else throw new Error('indefinite-length CBOR in an event body')
  return ib >> 5
}

/** Where the data item at `p` ends. */
function skipItem(b: Uint8Array, p: number): number {
  let items = 1
  while (items > 0) {
    items--
    const major = readHead(b, p)
    p = headEnd
    if (major === 2 || major === 3) p += headArg
    else if (major === 4) items += headArg
    else if (major === 5) items += 2 * headArg
    else if (major === 6) items += 1
    // 0, 1 and 7 (ints, floats, simple values): the head is the whole item.
  }
  if (p > b.length) throw new Error('truncated CBOR')
  return p
}

export function infoFrame(name: string, message?: string): Uint8Array {
  const body: Record<string, unknown> = { name }
  if (message !== undefined) body.message = message
  return concat(encodeCbor({ op: 1, t: '#info' }), encodeCbor(body))
}

export function errorFrame(error: string, message?: string): Uint8Array {
  const body: Record<string, unknown> = { error }
  if (message !== undefined) body.message = message
  return concat(encodeCbor({ op: -1 }), encodeCbor(body))
}

/**
 * A frame as one whole WebSocket binary message (FIN, opcode 2, unmasked as a server's are): the
 * same bytes for every subscriber, so the hub builds it once and writes it to each socket as is.
 */
export function wsMessage(frame: Uint8Array): Buffer {
  const len = frame.length
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10
  const out = Buffer.allocUnsafe(head + len)
  out[0] = 0x82
  if (head === 2) out[1] = len
  else if (head === 4) {
    out[1] = 126
    out.writeUInt16BE(len, 2)
  } else {
    out[1] = 127
    out.writeBigUInt64BE(BigInt(len), 2)
  }
  out.set(frame, head)
  return out
}
