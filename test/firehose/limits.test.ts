// subscribeRepos limits: a cursor older than PDS_REPO_BACKFILL_LIMIT_MS, and a subscriber that
// never reads being cut off at PDS_MAX_SUBSCRIPTION_BUFFER while the others keep up.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { commitWrites } from '../../src/actor/transactor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { makeAccount, type TestAccount } from '../api/repo/helpers.ts'
import { Consumer, waitFor } from './helpers.ts'

const COL = 'com.example.item'
const BACKFILL_MS = 1500
let pds: TestPds
let acct: TestAccount

const lastSeq = () => pds.hearth.services.sequencer.lastSeq() ?? 0
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let n = 0

/** One commit straight through the write path (fast, and records of any size). */
function write(record: Record<string, unknown> = {}): void {
  const s = pds.hearth.services
  commitWrites(s.actors.get(acct.did)!, s.sequencer, {
    writes: [prepareWrite({ action: 'create', collection: COL, rkey: `r${n++}`, record: { $type: COL, ...record } })],
  })
}

before(async () => {
  pds = await startTestPds({ env: { PDS_REPO_BACKFILL_LIMIT_MS: String(BACKFILL_MS), PDS_MAX_SUBSCRIPTION_BUFFER: '20' } })
  acct = await makeAccount(pds, 'limits')
})

after(async () => {
  await pds?.close()
})

test('a cursor older than the backfill window gets #info OutdatedCursor, then the events in the window', async () => {
  for (let i = 0; i < 3; i++) write({ i })
  await sleep(BACKFILL_MS + 200)
  const firstRecent = lastSeq() + 1
  for (let i = 0; i < 3; i++) write({ i, recent: true })
  const c = new Consumer(pds.url, '?cursor=1')
  await c.until(() => c.lastSeq() === lastSeq(), 5000, 'the outdated replay')
  c.close()
  assert.equal(c.frames[0].header.t, '#info')
  assert.equal(c.frames[0].body.name, 'OutdatedCursor')
  assert.deepEqual(
    c.events().map((f) => f.body.seq),
    [firstRecent, firstRecent + 1, firstRecent + 2],
  )
  // A cursor inside the window replays without the notice.
  const fresh = new Consumer(pds.url, `?cursor=${firstRecent}`)
  await fresh.until(() => fresh.lastSeq() === lastSeq(), 5000, 'the in-window replay')
  fresh.close()
  assert.equal(fresh.frames[0].header.t, '#commit')
  assert.deepEqual(fresh.events().map((f) => f.body.seq), [firstRecent + 1, firstRecent + 2])
})

test('a subscriber that never reads is cut off with ConsumerTooSlow; the others get everything', async () => {
  const hub = pds.hearth.services.firehose
  const healthy = [new Consumer(pds.url, '', { keep: false }), new Consumer(pds.url, '', { keep: false })]
  const stalled = new Consumer(pds.url, '', { keep: false })
  await Promise.all([...healthy, stalled].map((c) => c.opened))
  // Stop reading: the kernel buffers fill, then frames pile up in the server's queue.
  ;(stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  await waitFor(() => hub.subscriberCount === 3, 5000, 'three subscribers')
  const start = lastSeq()
  const big = 'x'.repeat(100_000)
  let writes = 0
  // Writers never wait on the stalled subscriber: keep writing until it has been dropped.
  while (hub.subscriberCount === 3 && writes < 600) {
    write({ big, k: writes++ })
    await new Promise((r) => setImmediate(r))
  }
  assert.equal(hub.subscriberCount, 2, `still ${hub.subscriberCount} subscribers after ${writes} writes`)
  for (let i = 0; i < 5; i++) write({ after: i })
  const end = lastSeq()
  await Promise.all(healthy.map((c) => c.until(() => c.lastSeq() === end, 15_000, 'healthy consumer')))
  for (const c of healthy) {
    assert.deepEqual(
      c.events().map((f) => f.body.seq),
      Array.from({ length: end - start }, (_, i) => start + 1 + i),
    )
  }
  // Reading again, the stalled one finds the error frame after what it had, then the close.
  ;(stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume()
  const closed = await stalled.closed
  assert.ok(stalled.lastSeq() < end)
  const last = stalled.frames.at(-1)
  assert.ok(last?.header.op === -1 && last.body.error === 'ConsumerTooSlow', `closed ${closed.code} after ${stalled.frames.length} frames`)
  for (const c of healthy) c.close()
})

test('a reading subscriber is not cut off by a burst of commits larger than the buffer', async () => {
  const hub = pds.hearth.services.firehose
  const c = new Consumer(pds.url, '', { keep: false })
  await c.opened
  await waitFor(() => hub.subscriberCount === 1, 5000, 'the subscriber')
  const start = lastSeq()
  // Five times PDS_MAX_SUBSCRIPTION_BUFFER in one turn of the event loop: the frames pile up
  // before any flush pass, but the socket has room for them, so they are written, not refused.
  for (let i = 0; i < 100; i++) write({ burst: i })
  const end = lastSeq()
  await c.until(() => c.lastSeq() === end, 10_000, 'the burst')
  assert.deepEqual(
    c.events().map((f) => f.body.seq),
    Array.from({ length: end - start }, (_, i) => start + 1 + i),
  )
  assert.equal(hub.subscriberCount, 1)
  assert.ok(!c.frames.some((f) => f.header.op === -1), 'no error frame')
  c.close()
})
