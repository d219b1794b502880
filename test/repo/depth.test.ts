// Nesting is bounded: a value may nest at most 128 maps/arrays deep, in its JSON form and in its
// CBOR form alike. Deeper input is refused with a clear error before any recursive walk can
// overflow the stack, and the limit itself round-trips.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeCbor, decodeRecordCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { cidForCbor } from '../../src/repo/cid.ts'
import { DataModelError, jsonToLex, jsonToLexValue, lexEquals, lexToJson } from '../../src/repo/data-model.ts'

const LIMIT = 128

/** `depth` maps, one inside the other, around `leaf`. */
function nestedMaps(depth: number, leaf: unknown = 1): unknown {
  let v = leaf
  for (let i = 0; i < depth; i++) v = { a: v }
  return v
}

function nestedArrays(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

/** CBOR of `depth` one-entry maps `{"a": …}` around the integer 1, written byte by byte. */
function nestedCbor(depth: number): Uint8Array {
  const out = new Uint8Array(depth * 3 + 1)
  for (let i = 0; i < depth; i++) out.set([0xa1, 0x61, 0x61], i * 3)
  out[depth * 3] = 0x01
  return out
}

const tooDeep = (err: unknown) => {
  assert.ok(!(err instanceof RangeError), `a stack overflow escaped: ${String(err)}`)
  assert.match((err as Error).message, /128/)
  return true
}

describe('JSON → data model', () => {
  test(`a record nested ${LIMIT} deep converts; ${LIMIT + 1} and far deeper are refused`, () => {
    const ok = jsonToLex(nestedMaps(LIMIT))
    assert.ok(lexEquals(ok, nestedMaps(LIMIT)))
    for (const depth of [LIMIT + 1, 10_000, 200_000]) {
      assert.throws(() => jsonToLex(nestedMaps(depth)), (err) => err instanceof DataModelError && tooDeep(err), `depth ${depth}`)
    }
  })

  test('arrays count as levels as maps do', () => {
    assert.doesNotThrow(() => jsonToLexValue(nestedArrays(LIMIT)))
    assert.throws(() => jsonToLexValue(nestedArrays(LIMIT + 1)), (err) => err instanceof DataModelError && tooDeep(err))
    assert.throws(() => jsonToLexValue(nestedArrays(50_000)), (err) => err instanceof DataModelError && tooDeep(err))
  })

  test('non-strict conversion is bounded too', () => {
    assert.throws(() => jsonToLexValue(nestedMaps(10_000), { strict: false }), (err) => err instanceof DataModelError && tooDeep(err))
  })

  test('a $link or $bytes object at the bottom is a value, not a level', () => {
    const link = { $link: cidForCbor(new Uint8Array([1])).$link }
    const value = jsonToLex(nestedMaps(LIMIT, link))
    // Back to JSON the link is an object again, one level below the limit's last map.
    assert.deepEqual(lexToJson(value), nestedMaps(LIMIT, link))
    assert.doesNotThrow(() => jsonToLex(nestedMaps(LIMIT, { $bytes: 'AQI' })))
  })
})

describe('data model → JSON', () => {
  test(`values nested ${LIMIT} deep convert; deeper ones are refused without a stack overflow`, () => {
    assert.deepEqual(lexToJson(nestedMaps(LIMIT)), nestedMaps(LIMIT))
    for (const depth of [LIMIT + 1, 100_000]) {
      assert.throws(() => lexToJson(nestedMaps(depth)), (err) => err instanceof DataModelError && tooDeep(err), `depth ${depth}`)
    }
  })
})

describe('CBOR decoding', () => {
  test(`a block nested ${LIMIT} deep decodes, and its JSON form converts back to the same bytes`, () => {
    const bytes = nestedCbor(LIMIT)
    assert.deepEqual(encodeCbor(nestedMaps(LIMIT)), bytes)
    const decoded = decodeCbor(bytes)
    assert.ok(lexEquals(decoded, nestedMaps(LIMIT)))
    assert.deepEqual(encodeCbor(jsonToLex(lexToJson(decoded))), bytes)
    assert.ok(lexEquals(decodeRecordCbor(bytes), nestedMaps(LIMIT)))
  })

  test(`a block nested ${LIMIT + 1} deep, or 100,000 deep, is refused`, () => {
    for (const depth of [LIMIT + 1, 100_000]) {
      assert.throws(() => decodeCbor(nestedCbor(depth)), tooDeep, `decodeCbor, depth ${depth}`)
      assert.throws(() => decodeRecordCbor(nestedCbor(depth)), tooDeep, `decodeRecordCbor, depth ${depth}`)
    }
  })

  test('nested arrays in CBOR are bounded as maps are', () => {
    const depth = LIMIT + 1
    const bytes = new Uint8Array(depth + 1).fill(0x81) // one-item arrays
    bytes[depth] = 0x01
    assert.throws(() => decodeCbor(bytes), tooDeep)
    assert.doesNotThrow(() => decodeCbor(bytes.subarray(1)))
  })

  test('wide values are not mistaken for deep ones', () => {
    const wide: Record<string, unknown> = {}
    for (let i = 0; i < 300; i++) wide[`k${i}`] = nestedMaps(LIMIT - 1)
    assert.doesNotThrow(() => decodeCbor(encodeCbor(wide)))
  })
})
