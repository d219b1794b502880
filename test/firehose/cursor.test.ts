// subscribeRepos cursors at the edges of the integers: any integer past the current sequence is
// FutureCursor, however many digits it has, up to Number.MAX_SAFE_INTEGER; what is not an
// integer, or is beyond the integers a sequence number can be, is InvalidRequest. Each gets one
// error frame and the connection is closed.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { Consumer } from './helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
  await pds.createAccount('cursor') // a few events, so the current sequence is not 0
})
after(async () => {
  await pds?.close()
})

async function errorFrame(cursor: string): Promise<string> {
  const c = new Consumer(pds.url, `?cursor=${encodeURIComponent(cursor)}`)
  const closed = await c.closed
  assert.equal(c.frames.length, 1, `cursor ${cursor}: ${c.frames.length} frames, closed ${closed.code}`)
  assert.equal(c.frames[0].header.op, -1)
  return c.frames[0].body.error as string
}

test('an integer cursor past the current sequence is FutureCursor, whatever its length', async () => {
  const last = pds.hearth.services.sequencer.lastSeq() ?? 0
  assert.ok(last > 0)
  for (const cursor of [
    String(last + 1),
    '1000000000000000', // 16 digits
    '9007199254740991', // Number.MAX_SAFE_INTEGER
    '0009007199254740991', // the same, zero-padded
  ]) {
    assert.equal(await errorFrame(cursor), 'FutureCursor', cursor)
  }
})

test('a cursor beyond the safe integers, or not an integer, is InvalidRequest', async () => {
  for (const cursor of ['9007199254740992', '99999999999999999999', '1e3', '0x10', '+5', '-1', '1.0', ' 5', 'abc']) {
    assert.equal(await errorFrame(cursor), 'InvalidRequest', cursor)
  }
})

test('the current sequence itself and zero-padded past cursors still replay', async () => {
  const last = pds.hearth.services.sequencer.lastSeq() ?? 0
  const c = new Consumer(pds.url, `?cursor=${String(last - 1).padStart(6, '0')}`)
  try {
    await c.until(() => c.events().length >= 1, 5000, 'the last event')
    assert.equal(c.events()[0].body.seq, last)
    assert.ok(c.frames.every((f) => f.header.op === 1))
  } finally {
    c.close()
  }
})
