import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CID } from 'multiformats/cid'
import { cidForCbor, parseCid, parseStoredCid } from '../../src/repo/cid.ts'

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
