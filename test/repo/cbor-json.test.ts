import assert from 'node:assert/strict'
import { test } from 'node:test'
import { JsonOut, NotFastJson, writeCborAsJson, writeRecordJson } from '../../src/repo/cbor-json.ts'
import { BytesWrapper, decodeCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { cidForCbor, cidForRaw } from '../../src/repo/cid.ts'
import { lexToJson } from '../../src/repo/data-model.ts'
import { readSharedJson, sharedSkip } from '../helpers/shared.ts'

/** What the reads answered before: decode to objects, convert to the JSON form, stringify. */
const general = (bytes: Uint8Array) => JSON.stringify(lexToJson(decodeCbor(bytes)))

function fast(bytes: Uint8Array): string {
  const out = new JsonOut(8)
  out.raw('[')
  writeCborAsJson(bytes, out)
  out.raw(']')
  return out.bytes().toString('utf8').slice(1, -1)
}

const values: unknown[] = [
  { $type: 'app.bsky.feed.post', text: 'hello', createdAt: '2024-01-01T00:00:00.000Z' },
  { text: 'quotes " and \\ backslashes, a tab\t, a newline\n and \u0001 control' },
  { text: 'non-ASCII: é ü 日本語 🦋 and U+2028 \u2028 U+2029 \u2029', 'clé': 'valeur', '日本': 1 },
  { n: [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER] },
  { n: [-1, -24, -25, -256, -257, -65536, -65537, -(2 ** 32), -(2 ** 32) - 1, Number.MIN_SAFE_INTEGER] },
  { t: true, f: false, z: null, empty: {}, none: [], s: '' },
  { link: cidForCbor(encodeCbor({ a: 1 })), raw: cidForRaw(new Uint8Array([1, 2, 3])) },
  {
    embed: {
      $type: 'app.bsky.embed.images',
      images: [{ alt: '', image: { $type: 'blob', ref: cidForRaw(new Uint8Array(10)), mimeType: 'image/png', size: 10 } }],
    },
  },
  { bytes: new BytesWrapper(new Uint8Array([0, 1, 2, 250, 251, 252, 253])), small: new BytesWrapper(new Uint8Array(0)) },
  { long: 'x'.repeat(70_000), longer: 'é'.repeat(40_000) },
  { '1': 'integer-like key', a: 'b', __proto__x: 1 },
  [[[[[{ deep: [1, [2, [3]]] }]]]]],
  'a bare string',
  42,
]

test('CBOR → JSON text: the same JSON as decoding, converting and stringifying', () => {
  for (const [i, v] of values.entries()) {
    const bytes = encodeCbor(v)
    const text = fast(bytes)
    assert.deepEqual(JSON.parse(text), JSON.parse(general(bytes)), `value ${i}`)
    // Key order may differ only for integer-like keys (JS objects list those first).
    if (!(typeof v === 'object' && v !== null && '1' in v)) assert.equal(text, general(bytes), `value ${i}: same text`)
  }
})

test('CBOR → JSON text: the shared data-model fixtures', { skip: sharedSkip }, () => {
  const fixtures = readSharedJson<Array<{ cbor_base64: string }>>('data-model/data-model-fixtures.json')
  for (const [i, f] of fixtures.entries()) {
    const bytes = new Uint8Array(Buffer.from(f.cbor_base64, 'base64'))
    assert.equal(fast(bytes), general(bytes), `fixture ${i}`)
  }
})

/** Hand-made encodings the fast writer leaves to the general decoder. */
const declined: Array<[string, number[]]> = [
  ['a float', [0xa1, 0x61, 0x66, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]],
  ['an integer past 2^53', [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0]],
  ['a non-canonical integer', [0x18, 0x05]],
  ['a non-canonical length', [0x78, 0x01, 0x61]],
  ['unsorted keys', [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02]],
  ['duplicate keys', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
  ['a non-string key', [0xa1, 0x01, 0x02]],
  ['invalid UTF-8', [0x62, 0xc3, 0x28]],
  ['invalid UTF-8 after a quote', [0x63, 0x22, 0xc3, 0x28]],
  ['undefined', [0xf7]],
  ['an indefinite-length array', [0x9f, 0x01, 0xff]],
  ['a tag other than 42', [0xc1, 0x01]],
  ['a truncated map', [0xa2, 0x61, 0x61, 0x01]],
  ['trailing bytes', [0x01, 0x02]],
  ['a CID link without its 0x00 prefix', [0xd8, 0x2a, 0x41, 0x01]],
]

test('CBOR → JSON text: what it does not take is declined, and the output is left as it was', () => {
  for (const [what, bytes] of declined) {
    const out = new JsonOut(4)
    out.raw('[1,')
    assert.throws(() => writeCborAsJson(new Uint8Array(bytes), out), NotFastJson, what)
    assert.equal(out.bytes().toString(), '[1,', what)
  }
  // Nesting past the limit goes to the general decoder, which refuses it.
  let deep: unknown = 1
  for (let i = 0; i < 130; i++) deep = [deep]
  const bytes = encodeCbor(deep)
  assert.throws(() => writeCborAsJson(bytes, new JsonOut()), NotFastJson)
  assert.throws(() => writeRecordJson(bytes, new JsonOut()), /nested deeper/)
})

test('writeRecordJson: a declined value is written by the general decoder when it can be', () => {
  const withFloat = new Uint8Array([0xa1, 0x61, 0x66, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
  const out = new JsonOut(4)
  writeRecordJson(withFloat, out)
  assert.equal(out.bytes().toString(), '{"f":1.5}')
  assert.throws(() => writeRecordJson(new Uint8Array([0x62, 0xc3, 0x28]), new JsonOut()), /utf-8/)
})

test('JsonOut.string writes what JSON.stringify writes, short or long, escaped or not', () => {
  const samples = ['', 'at://did:plc:abc/app.bsky.feed.post/3kabc', 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mmoq7u']
  for (const c of ['"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\ud800']) {
    samples.push(c, `a${c}`, `${'x'.repeat(40)}${c}tail`)
  }
  for (const len of [255, 256, 257, 300]) samples.push('y'.repeat(len), `${'y'.repeat(len - 1)}"`)
  for (const s of samples) {
    // Something before and after, so a string given up part-way must not leave bytes behind.
    const out = new JsonOut(4)
    out.raw('[')
    out.string(s)
    out.raw(',')
    out.string(s)
    out.raw(']')
    assert.equal(out.bytes().toString('utf8'), `[${JSON.stringify(s)},${JSON.stringify(s)}]`, JSON.stringify(s))
  }
})
