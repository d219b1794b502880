// DAG-CBOR as the atproto data model uses it. @atcute/cbor already refuses non-canonical
// integer encodings, unsorted or duplicate map keys, non-string keys, tags other than 42 and
// NaN/Infinity; Hearth adds the atproto rule that numbers are integers, and bounds nesting.
//
// The decoder itself is iterative and takes any depth, but what is done with a value afterwards
// (encoding it again, converting it to JSON, walking it for blobs) recurses, so a block nested
// deeper than MAX_NESTING_DEPTH is refused at decoding: such a block, from an import, a CAR or
// storage, never becomes a value.
import { BytesWrapper, decode, decodeFirst, encode } from '@atcute/cbor'
import { type Cid, cidForCbor } from './cid.ts'
import { exceedsNestingDepth, nestingTooDeepMessage } from './nesting.ts'

export { BytesWrapper }

export const encodeCbor: (value: unknown) => Uint8Array = encode

export class CborDepthError extends Error {
  override name = 'CborDepthError'
  constructor() {
    super(`CBOR value is ${nestingTooDeepMessage()}`)
  }
}

/** Decodes one DAG-CBOR value with nothing after it. */
export function decodeCbor(bytes: Uint8Array): unknown {
  return checkDepth(decode(bytes))
}

/** Decodes the first DAG-CBOR value of `bytes`; returns it and what follows it. */
export function decodeCborFirst(bytes: Uint8Array): ReturnType<typeof decodeFirst> {
  const [value, rest] = decodeFirst(bytes)
  return [checkDepth(value), rest]
}

function checkDepth(value: unknown): unknown {
  if (exceedsNestingDepth(value)) throw new CborDepthError()
  return value
}

/** Decodes and additionally refuses floats anywhere in the value (the atproto data model has none). */
export function decodeRecordCbor(bytes: Uint8Array): Record<string, unknown> {
  const value = decodeCbor(bytes)
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value.constructor !== Object) {
    throw new TypeError('record is not a CBOR map')
  }
  assertNoFloats(value)
  return value as Record<string, unknown>
}

export function assertNoFloats(value: unknown): void {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError('floats are not allowed in the atproto data model')
    return
  }
  if (value === null || typeof value !== 'object') return
  if (Array.isArray(value)) {
    for (const v of value) assertNoFloats(v)
    return
  }
  if (value.constructor !== Object) return // CID and bytes wrappers
  for (const key in value) assertNoFloats((value as Record<string, unknown>)[key])
}

export interface EncodedBlock {
  cid: Cid
  bytes: Uint8Array
}

export function encodeBlock(value: unknown): EncodedBlock {
  const bytes = encode(value)
  return { cid: cidForCbor(bytes), bytes }
}

export function bytesOf(value: BytesWrapper | Uint8Array): Uint8Array {
  return value instanceof Uint8Array ? value : value.buf
}
