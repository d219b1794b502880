// Event-stream frames: a CBOR header ({op: 1, t: '#commit'} or {op: -1} for errors) followed by
// the CBOR body, in one binary WebSocket message.
import { decodeCbor, encodeCbor } from '../repo/cbor.ts'
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

/** The frame for a stored event: its body plus `seq` and `time`. */
export function eventFrame(row: SeqRow): Uint8Array {
  const t = TYPES[row.eventType]
  if (!t) throw new Error(`unknown event type ${row.eventType}`)
  const body = decodeCbor(row.event) as Record<string, unknown>
  body.seq = row.seq
  body.time = row.sequencedAt
  return concat(encodeCbor({ op: 1, t }), encodeCbor(body))
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
