// Backfill: a replay from cursor 0 over several replay pages, with commits still arriving while
// it runs, gives every event once and in order, byte for byte the frames a live subscriber got,
// then continues with the live tail.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { commitWrites } from '../../src/actor/transactor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { makeAccount, type TestAccount } from '../api/repo/helpers.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { Consumer, waitFor } from './helpers.ts'

const COL = 'com.example.item'
let pds: TestPds
let acct: TestAccount
let n = 0

const lastSeq = () => pds.hearth.services.sequencer.lastSeq() ?? 0

/** One commit straight through the write path: fast enough for a log of a thousand events. */
function write(): void {
  const s = pds.hearth.services
  commitWrites(s.actors.get(acct.did)!, s.sequencer, {
    writes: [prepareWrite({ action: 'create', collection: COL, rkey: `r${n}`, record: { $type: COL, n: n++ } })],
  })
}

before(async () => {
  pds = await startTestPds()
  acct = await makeAccount(pds, 'backfill')
})

after(async () => {
  await pds?.close()
})

test('a replay from cursor 0 across pages, with writes during it, is every event in order, as the live frames', async () => {
  const live = new Consumer(pds.url)
  await live.opened
  await waitFor(() => pds.hearth.services.firehose.subscriberCount === 1, 5000, 'the live subscriber')
  const firstLive = lastSeq() + 1
  // More than one replay page (500 events each).
  for (let i = 0; i < 600; i++) {
    write()
    // As writes arrive over HTTP: now and then a turn of the event loop between them.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r))
  }
  const replay = new Consumer(pds.url, '?cursor=0')
  // Commits made while the replay is under way: each must come once, from the replay or live.
  for (let i = 0; i < 50; i++) {
    write()
    await new Promise((r) => setImmediate(r))
  }
  const end = lastSeq()
  await replay.until(() => replay.lastSeq() === end, 20_000, 'the replay')
  await live.until(() => live.lastSeq() === end, 20_000, 'the live tail')
  // And after it, the live tail.
  write()
  await replay.until(() => replay.lastSeq() === end + 1, 5000, 'the live tail after the replay')
  replay.close()
  live.close()

  const seqs = replay.events().map((f) => f.body.seq)
  assert.deepEqual(seqs, Array.from({ length: end + 1 }, (_, i) => i + 1))
  const hex = (f: { raw: Uint8Array }) => Buffer.from(f.raw).toString('hex')
  const liveFrames = live.events()
  assert.equal(liveFrames[0]?.body.seq, firstLive)
  assert.deepEqual(
    replay.events().filter((f) => f.body.seq >= firstLive && f.body.seq <= end).map(hex),
    liveFrames.filter((f) => f.body.seq <= end).map(hex),
  )
})
