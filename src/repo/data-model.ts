// The atproto data model between its JSON form and its in-memory values. CID links and bytes
// have a JSON spelling ({"$link"}, {"$bytes"}); in memory they are the wrappers the CBOR codec
// reads and writes, so a converted record encodes to canonical DAG-CBOR as is.
import { toBase64 } from '@atcute/multibase'
import { BytesWrapper } from './cbor.ts'
import { type Cid, isCid, parseCid } from './cid.ts'
import { MAX_NESTING_DEPTH, nestingTooDeepMessage } from './nesting.ts'

export class DataModelError extends Error {
  override name = 'DataModelError'
}

export type LexValue = null | boolean | number | string | Cid | BytesWrapper | LexValue[] | LexMap
export interface LexMap {
  [key: string]: LexValue
}

export interface BlobRef {
  $type: 'blob'
  ref: Cid
  mimeType: string
  size: number
}

export interface JsonToLexOptions {
  /**
   * Refuse anything the data model does not allow (the default). Non-strict conversion is for
   * JSON that came from elsewhere and is only being passed along: malformed `$link`, `$bytes` and
   * blob objects stay plain objects, and numbers and `$type` are not checked.
   */
  strict?: boolean
}

// Both directions recurse, one frame per level: a value nested deeper than MAX_NESTING_DEPTH
// maps/arrays is refused (a DataModelError) before the recursion could overflow the stack.

/** Converts a JSON record (the top level must be an object). */
export function jsonToLex(json: unknown, opts: JsonToLexOptions = {}): LexMap {
  if (!isPlainObject(json)) throw new DataModelError(`the top level must be an object, got ${describe(json)}`)
  const out = convertObject(json, opts.strict !== false, '', 1)
  if (isCid(out) || out instanceof BytesWrapper) throw new DataModelError('the top level must be an object, not a $link or $bytes')
  return out
}

/** Converts any JSON value, for data that is not a whole record. */
export function jsonToLexValue(json: unknown, opts: JsonToLexOptions = {}): LexValue {
  return convert(json, opts.strict !== false, '', 1)
}

/** `depth`: the level this value is at if it is a map or an array. */
function convert(json: unknown, strict: boolean, path: string, depth: number): LexValue {
  switch (typeof json) {
    case 'string':
    case 'boolean':
      return json
    case 'number':
      if (strict) {
        if (!Number.isInteger(json)) throw new DataModelError(`${at(path)}: ${json} is not an integer (floats are not in the data model)`)
        // Beyond 2^53 the JSON parser has already rounded the value, and the CBOR encoder refuses it.
        if (!Number.isSafeInteger(json)) throw new DataModelError(`${at(path)}: ${json} is outside the safe integer range`)
      }
      return json
    case 'object':
      if (json === null) return null
      if (Array.isArray(json)) {
        if (depth > MAX_NESTING_DEPTH) throw tooDeep()
        const out: LexValue[] = new Array(json.length)
        for (let i = 0; i < json.length; i++) out[i] = convert(json[i], strict, `${path}[${i}]`, depth + 1)
        return out
      }
      if (isPlainObject(json)) return convertObject(json, strict, path, depth)
  }
  throw new DataModelError(`${at(path)}: ${describe(json)} is not a JSON value`)
}

function convertObject(obj: Record<string, unknown>, strict: boolean, path: string, depth: number): LexMap | Cid | BytesWrapper {
  if (Object.hasOwn(obj, '$link')) {
    const link = parseLink(obj, strict, path)
    if (link) return link
  } else if (Object.hasOwn(obj, '$bytes')) {
    const bytes = parseBytes(obj, strict, path)
    if (bytes) return bytes
  }
  if (strict && Object.hasOwn(obj, '$type')) {
    const type = obj.$type
    if (typeof type !== 'string' || type.length === 0) {
      throw new DataModelError(`${at(path)}: $type must be a non-empty string, got ${describe(type)}`)
    }
    if (type === 'blob') checkBlob(obj, path)
  }
  // A $link or $bytes object is a value, not a level: only a map counts.
  if (depth > MAX_NESTING_DEPTH) throw tooDeep()
  const out: LexMap = {}
  for (const key of Object.keys(obj)) {
    const value = obj[key]
    if (value === undefined) continue
    const converted = convert(value, strict, path === '' ? key : `${path}.${key}`, depth + 1)
    // JSON.parse makes "__proto__" an own key; plain assignment would set the prototype instead.
    if (key === '__proto__') Object.defineProperty(out, key, { value: converted, enumerable: true, writable: true, configurable: true })
    else out[key] = converted
  }
  return out
}

function parseLink(obj: Record<string, unknown>, strict: boolean, path: string): Cid | null {
  const link = obj.$link
  if (!hasOnlyKey(obj, '$link') || typeof link !== 'string') {
    if (strict) throw new DataModelError(`${at(path)}: a $link object must have one key, $link, holding a string`)
    return null
  }
  try {
    return parseCid(link)
  } catch (err) {
    if (strict) throw new DataModelError(`${at(path)}: $link ${JSON.stringify(link)} is not a valid CID (${(err as Error).message})`)
    return null
  }
}

// Standard base64; atproto writes it unpadded but padding is tolerated on input. Non-zero
// trailing bits are tolerated too ("123" is 2 bytes), as Node's decoder and the official PDS do.
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/

function parseBytes(obj: Record<string, unknown>, strict: boolean, path: string): BytesWrapper | null {
  const b64 = obj.$bytes
  if (!hasOnlyKey(obj, '$bytes') || typeof b64 !== 'string') {
    if (strict) throw new DataModelError(`${at(path)}: a $bytes object must have one key, $bytes, holding a string`)
    return null
  }
  if (!isBase64(b64)) {
    if (strict) throw new DataModelError(`${at(path)}: $bytes is not standard base64`)
    return null
  }
  const buf = Buffer.from(b64, 'base64')
  return new BytesWrapper(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
}

function isBase64(s: string): boolean {
  if (!BASE64_RE.test(s)) return false
  const padded = s.endsWith('=')
  if (padded && s.length % 4 !== 0) return false
  const unpaddedLength = padded ? s.length - (s.endsWith('==') ? 2 : 1) : s.length
  return unpaddedLength % 4 !== 1 // one leftover character cannot hold a byte
}

function checkBlob(obj: Record<string, unknown>, path: string): void {
  const ref = obj.ref
  if (!isPlainObject(ref) || !Object.hasOwn(ref, '$link')) throw new DataModelError(`${at(path)}: a blob needs ref, a $link object`)
  if (typeof obj.mimeType !== 'string') throw new DataModelError(`${at(path)}: a blob needs mimeType, a string`)
  const size = obj.size
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new DataModelError(`${at(path)}: a blob needs size, a non-negative integer, got ${describe(size)}`)
  }
}

/** Converts data-model values (as decoded from CBOR or built in code) to atproto JSON. */
export function lexToJson(value: unknown): unknown {
  return toJson(value, '', 1)
}

function toJson(value: unknown, path: string, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new DataModelError(`${at(path)}: ${value} has no JSON form`)
      return value
    case 'object': {
      if (value === null) return null
      if (Array.isArray(value)) {
        if (depth > MAX_NESTING_DEPTH) throw tooDeep()
        const out: unknown[] = new Array(value.length)
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined) throw new DataModelError(`${at(`${path}[${i}]`)}: undefined in an array`)
          out[i] = toJson(value[i], `${path}[${i}]`, depth + 1)
        }
        return out
      }
      if (isCid(value)) return { $link: value.$link }
      if (value instanceof BytesWrapper) return { $bytes: toBase64(value.buf) }
      if (value instanceof Uint8Array) return { $bytes: toBase64(value) }
      if (!isPlainObject(value)) break
      if (depth > MAX_NESTING_DEPTH) throw tooDeep()
      const out: Record<string, unknown> = {}
      for (const key of Object.keys(value)) {
        const v = value[key]
        if (v === undefined) continue // as the CBOR encoder does
        const converted = toJson(v, path === '' ? key : `${path}.${key}`, depth + 1)
        if (key === '__proto__') Object.defineProperty(out, key, { value: converted, enumerable: true, writable: true, configurable: true })
        else out[key] = converted
      }
      return out
    }
  }
  throw new DataModelError(`${at(path)}: ${describe(value)} is not a data-model value`)
}

/** Deep equality of data-model values: links by CID bytes, bytes by content, maps ignoring key order. */
export function lexEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!lexEquals(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  if (isCid(a) || isCid(b)) return isCid(a) && isCid(b) && bytesEqual(a.bytes, b.bytes)
  const ab = bytesOf(a)
  const bb = bytesOf(b)
  if (ab || bb) return ab !== null && bb !== null && bytesEqual(ab, bb)
  if (!isPlainObject(a) || !isPlainObject(b)) return false
  const ak = definedKeys(a)
  const bk = definedKeys(b)
  if (ak.length !== bk.length) return false
  for (const k of ak) if (!Object.hasOwn(b, k) || !lexEquals(a[k], b[k])) return false
  return true
}

function bytesOf(v: object): Uint8Array | null {
  if (v instanceof BytesWrapper) return v.buf
  if (v instanceof Uint8Array) return v
  return null
}

function bytesEqual(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

function definedKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o).filter((k) => o[k] !== undefined)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function hasOnlyKey(obj: Record<string, unknown>, key: string): boolean {
  let n = 0
  for (const k in obj) if (Object.hasOwn(obj, k)) n++
  return n === 1 && Object.hasOwn(obj, key)
}

// No path: at this depth it would be a hundred-odd segments long.
function tooDeep(): DataModelError {
  return new DataModelError(`value is ${nestingTooDeepMessage()}`)
}

function at(path: string): string {
  return path === '' ? 'value' : path
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v)
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object'
  return `${typeof v} ${String(v)}`
}
