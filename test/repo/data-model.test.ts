import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { BytesWrapper, decodeCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { cidForCbor, cidForRaw, isCid } from '../../src/repo/cid.ts'
import { DataModelError, jsonToLex, jsonToLexValue, lexEquals, lexToJson } from '../../src/repo/data-model.ts'
import { readSharedJson, sharedSkip } from '../helpers/shared.ts'

interface Fixture {
  json: unknown
  cbor_base64: string
  cid: string
}
interface Case {
  note: string
  json: unknown
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '')

describe('data model: shared interop vectors', () => {
  test('fixtures: JSON → values → canonical CBOR → CID, and back to the same JSON', { skip: sharedSkip }, () => {
    const fixtures = readSharedJson<Fixture[]>('data-model/data-model-fixtures.json')
    assert.ok(fixtures.length > 0)
    for (const [i, f] of fixtures.entries()) {
      const lex = jsonToLex(f.json, { strict: true })
      const bytes = encodeCbor(lex)
      assert.equal(b64(bytes), f.cbor_base64, `fixture ${i}: CBOR bytes`)
      assert.equal(cidForCbor(bytes).$link, f.cid, `fixture ${i}: CID`)
      const decoded = decodeCbor(bytes)
      assert.ok(lexEquals(decoded, lex), `fixture ${i}: decoded value equals converted value`)
      assert.deepEqual(lexToJson(decoded), f.json, `fixture ${i}: back to JSON`)
    }
  })

  test('data-model-valid.json converts strictly', { skip: sharedSkip }, () => {
    const cases = readSharedJson<Case[]>('data-model/data-model-valid.json')
    assert.ok(cases.length > 0)
    for (const [i, c] of cases.entries()) {
      const lex = jsonToLex(c.json, { strict: true })
      assert.deepEqual(lexToJson(decodeCbor(encodeCbor(lex))), c.json, `case ${i} (${c.note})`)
    }
  })

  test('data-model-invalid.json is refused by the strict conversion', { skip: sharedSkip }, () => {
    const cases = readSharedJson<Case[]>('data-model/data-model-invalid.json')
    assert.ok(cases.length > 0)
    const accepted: string[] = []
    for (const [i, c] of cases.entries()) {
      try {
        jsonToLex(c.json, { strict: true })
        accepted.push(`case ${i} (${c.note})`)
      } catch (err) {
        assert.ok(err instanceof DataModelError, `case ${i} (${c.note}) threw ${String(err)}`)
      }
    }
    assert.deepEqual(accepted, [])
  })
})

describe('data model: inline cases', () => {
  const LINK = 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a'
  const RAW_LINK = 'bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity'

  test('links, bytes and blobs become CIDs and byte wrappers, and round trip through CBOR', () => {
    const json = {
      $type: 'com.example.record',
      text: 'héllo 👋',
      n: -42,
      big: Number.MAX_SAFE_INTEGER,
      ok: false,
      none: null,
      link: { $link: LINK },
      bytes: { $bytes: 'AAEC/w' },
      empty: { $bytes: '' },
      blob: { $type: 'blob', ref: { $link: RAW_LINK }, mimeType: 'image/png', size: 123 },
      nested: [[{ $link: LINK }], { deep: { $bytes: 'aGk' } }],
    }
    const lex = jsonToLex(json) as Record<string, any>
    assert.ok(isCid(lex.link))
    assert.equal(lex.link.$link, LINK)
    assert.ok(lex.bytes instanceof BytesWrapper)
    assert.deepEqual([...lex.bytes.buf], [0, 1, 2, 255])
    assert.equal(lex.empty.buf.length, 0)
    assert.ok(isCid(lex.blob.ref))
    assert.equal(lex.blob.mimeType, 'image/png')
    assert.deepEqual([...lex.nested[1].deep.buf], [104, 105])

    const decoded = decodeCbor(encodeCbor(lex))
    assert.ok(lexEquals(decoded, lex))
    assert.deepEqual(lexToJson(decoded), json)
    assert.deepEqual(lexToJson(lex), json)
  })

  test('$bytes: padding tolerated, non-zero trailing bits tolerated, non-base64 refused', () => {
    assert.deepEqual([...(jsonToLex({ b: { $bytes: 'aGk=' } }).b as BytesWrapper).buf], [104, 105])
    assert.equal((jsonToLex({ b: { $bytes: '123' } }).b as BytesWrapper).buf.length, 2)
    for (const bad of ['a', 'aGk==', 'aG=k', 'a-_b', 'aGk\n', 'aGk===']) {
      assert.throws(() => jsonToLex({ b: { $bytes: bad } }), DataModelError, bad)
    }
    assert.deepEqual(lexToJson({ b: new BytesWrapper(new Uint8Array([104, 105])) }), { b: { $bytes: 'aGk' } })
  })

  test('strict refusals name the problem', () => {
    const cases: [unknown, RegExp][] = [
      ['a string', /top level must be an object/],
      [[1, 2], /top level must be an object/],
      [{ $link: LINK }, /top level must be an object, not a \$link/],
      [{ a: 1.5 }, /a: 1.5 is not an integer/],
      [{ a: [1, 2 ** 60] }, /a\[1\].*safe integer/],
      [{ r: { $type: '' } }, /r: \$type must be a non-empty string/],
      [{ r: { $type: null } }, /\$type must be a non-empty string, got null/],
      [{ l: { $link: 'nope' } }, /l: \$link "nope" is not a valid CID/],
      [{ l: { $link: LINK, x: 1 } }, /a \$link object must have one key/],
      [{ l: { $link: 42 } }, /a \$link object must have one key/],
      [{ b: { $bytes: [1] } }, /a \$bytes object must have one key/],
      [{ b: { $type: 'blob', mimeType: 'a/b', size: 1 } }, /blob needs ref/],
      [{ b: { $type: 'blob', ref: { $link: RAW_LINK }, size: 1 } }, /blob needs mimeType/],
      [{ b: { $type: 'blob', ref: { $link: RAW_LINK }, mimeType: 'a/b', size: '1' } }, /blob needs size/],
      [{ b: { $type: 'blob', ref: { $link: RAW_LINK }, mimeType: 'a/b', size: -1 } }, /blob needs size/],
      [{ b: { $type: 'blob', ref: 'not a link', mimeType: 'a/b', size: 1 } }, /blob needs ref/],
    ]
    for (const [json, re] of cases) assert.throws(() => jsonToLex(json), (err: unknown) => err instanceof DataModelError && re.test(err.message), JSON.stringify(json))
  })

  test('non-strict conversion passes malformed special objects and floats through', () => {
    const json = { a: 1.5, l: { $link: 'nope' }, b: { $bytes: 1 }, t: { $type: '' }, ok: { $link: LINK } }
    const lex = jsonToLex(json, { strict: false }) as Record<string, any>
    assert.equal(lex.a, 1.5)
    assert.deepEqual(lex.l, { $link: 'nope' })
    assert.deepEqual(lex.b, { $bytes: 1 })
    assert.deepEqual(lex.t, { $type: '' })
    assert.ok(isCid(lex.ok))
  })

  test('jsonToLexValue converts values that are not records', () => {
    assert.equal(jsonToLexValue('x'), 'x')
    assert.ok(isCid(jsonToLexValue({ $link: LINK })))
    assert.deepEqual(jsonToLexValue([1, null]), [1, null])
    assert.throws(() => jsonToLexValue(1.25), DataModelError)
    assert.throws(() => jsonToLexValue(undefined), DataModelError)
  })

  test('"__proto__" from JSON.parse stays an ordinary key', () => {
    const json = JSON.parse('{"__proto__": {"x": 1}, "y": 2}')
    const lex = jsonToLex(json) as Record<string, unknown>
    assert.equal(Object.getPrototypeOf(lex), Object.prototype)
    assert.deepEqual(Object.keys(lex), ['__proto__', 'y'])
    assert.deepEqual(lexToJson(decodeCbor(encodeCbor(lex))), json)
  })

  test('lexToJson refuses values that have no data-model form', () => {
    assert.throws(() => lexToJson({ d: new Date() }), DataModelError)
    assert.throws(() => lexToJson({ n: Number.NaN }), DataModelError)
    assert.throws(() => lexToJson({ a: [undefined] }), DataModelError)
    assert.deepEqual(lexToJson({ a: undefined, b: 1 }), { b: 1 })
  })

  test('lexEquals compares links by CID, bytes by content and maps regardless of key order', () => {
    const cid = cidForRaw(new Uint8Array([1]))
    const same = cidForRaw(new Uint8Array([1]))
    assert.ok(lexEquals({ a: cid, b: [1, 'x'] }, { b: [1, 'x'], a: same }))
    assert.ok(!lexEquals({ a: cid }, { a: cidForRaw(new Uint8Array([2])) }))
    assert.ok(lexEquals(new BytesWrapper(new Uint8Array([1, 2])), new BytesWrapper(new Uint8Array([1, 2]))))
    assert.ok(!lexEquals(new BytesWrapper(new Uint8Array([1, 2])), new BytesWrapper(new Uint8Array([1, 3]))))
    assert.ok(!lexEquals({ a: 1 }, { a: 1, b: 2 }))
    assert.ok(lexEquals({ a: 1, b: undefined }, { a: 1 }))
    assert.ok(!lexEquals([1], { 0: 1 }))
    assert.ok(!lexEquals(cid, { $link: cid.$link }))
    assert.ok(!lexEquals(null, {}))
  })
})
