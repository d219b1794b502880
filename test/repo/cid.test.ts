import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CID } from 'multiformats/cid'
import { toBase32 } from '@atcute/multibase'
import { cidForCbor, cidForRaw, parseCid, parseStoredCid, storedCidBytes, storedCidLength, writeStoredCidBytes } from '../../src/repo/cid.ts'

test('parseStoredCid: the same CID as parseCid, keeping the stored string as its $link', () => {
  const cid = cidForCbor(new TextEncoder().encode('a stored record'))
  const str = cid.$link
  const stored = parseStoredCid(str)
  assert.deepEqual(stored.bytes, parseCid(str).bytes)
  assert.equal(stored.$link, str)
  assert.equal(CID.decode(stored.bytes).toString(), str)
  assert.deepEqual(JSON.parse(JSON.stringify(stored)), { $link: str })
  // It validates as parseCid does.
  assert.throws(() => parseStoredCid('bafy-not-a-cid'))
})

test('writeStoredCidBytes: the bytes storedCidBytes gives, written in place from inside a longer string', () => {
  for (let n = 0; n < 300; n++) {
    const content = new TextEncoder().encode(`block ${n}`)
    const cid = (n % 3 === 0 ? cidForRaw(content) : cidForCbor(content)).$link
    const page = `${'x'.repeat(n % 5)} ${cid} tail`
    const start = page.indexOf(' ') + 1
    const out = new Uint8Array(48).fill(0xaa)
    assert.equal(storedCidLength(start, start + cid.length), 36)
    const end = writeStoredCidBytes(page, start, start + cid.length, out, 5)
    assert.equal(end, 5 + 36)
    assert.deepEqual(out.subarray(5, end), storedCidBytes(cid))
    assert.ok(out.subarray(0, 5).every((b) => b === 0xaa) && out.subarray(end).every((b) => b === 0xaa), 'nothing written outside')
  }
  // Lengths whose base32 does not end on a whole group of eight characters.
  for (let len = 1; len <= 40; len++) {
    const bytes = new Uint8Array(len).map((_, i) => (i * 37 + len) & 0xff)
    const str = `b${toBase32(bytes)}`
    const out = new Uint8Array(len)
    assert.equal(storedCidLength(0, str.length), len)
    assert.equal(writeStoredCidBytes(str, 0, str.length, out, 0), len)
    assert.deepEqual(out, bytes)
  }
  const cid = cidForCbor(new Uint8Array([1])).$link
  const out = new Uint8Array(36)
  assert.throws(() => writeStoredCidBytes(`z${cid.slice(1)}`, 0, cid.length, out, 0), /not base32/)
  // U+0161 and U+0162 end in the bytes of 'a' and 'b': a table read by the low byte would take them.
  for (const bad of ['A', '1', '8', ' ', '=', '\u00e9', '\u0161', '\u0162']) {
    const at = 3 + (bad.charCodeAt(0) % 50)
    assert.throws(() => writeStoredCidBytes(cid.slice(0, at) + bad + cid.slice(at + 1), 0, cid.length, out, 0), /not base32/, bad)
  }
  assert.throws(() => writeStoredCidBytes(cid, 0, cid.length + 8, out, 0), RangeError)
})
