// subscribeRepos end to end: a workload across several accounts watched live by a raw consumer
// and by @atproto/sync's verifying Firehose client; replay, cursors, and 200 subscribers.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { IdResolver } from '@atproto/identity'
import { verifyRepoCar } from '@atproto/repo'
import { Firehose, type Event as SyncEvent } from '@atproto/sync'
import { readCar } from '../../src/repo/car/index.ts'
import { type Cid, cidEquals } from '../../src/repo/cid.ts'
import { verifyCommitSig, decodeCommit } from '../../src/repo/commit.ts'
import { checkInversion } from '../../src/repo/inversion.ts'
import { accountEvent, identityEvent } from '../../src/sequencer/events.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { makeAccount, type TestAccount } from '../api/repo/helpers.ts'
import { Consumer, type Frame, waitFor } from './helpers.ts'

const COL = 'com.example.item'
let pds: TestPds
let accounts: TestAccount[] = []
let live: Consumer
let firehose: Firehose
const syncEvents: SyncEvent[] = []
const syncErrors: Error[] = []

const lastSeq = () => pds.hearth.services.sequencer.lastSeq() ?? 0

async function workload(): Promise<void> {
  for (const name of ['ann', 'ben', 'cat']) accounts.push(await makeAccount(pds, name))
  // Rounds of concurrent writes across the accounts: creates, then updates, then deletes.
  for (let i = 0; i < 5; i++) {
    await Promise.all(
      accounts.map((a) => a.agent.com.atproto.repo.createRecord({ repo: a.did, collection: COL, rkey: `k${i}`, record: { $type: COL, i, who: a.did } })),
    )
  }
  await Promise.all(
    accounts.map((a) => a.agent.com.atproto.repo.putRecord({ repo: a.did, collection: COL, rkey: 'k1', record: { $type: COL, i: 100, who: a.did } })),
  )
  await Promise.all(accounts.map((a) => a.agent.com.atproto.repo.deleteRecord({ repo: a.did, collection: COL, rkey: 'k2' })))
  await accounts[0].agent.com.atproto.repo.applyWrites({
    repo: accounts[0].did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: COL, rkey: 'b1', value: { $type: COL, i: 7 } },
      { $type: 'com.atproto.repo.applyWrites#update', collection: COL, rkey: 'k3', value: { $type: COL, i: 8 } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: COL, rkey: 'k4' },
    ],
  })
  // A handle change and a deactivate/reactivate, sequenced as the account endpoints do.
  const s = pds.hearth.services
  const b = accounts[1]
  s.accounts.updateHandle(b.did, `renamed-${b.handle}`)
  s.sequencer.append([identityEvent(b.did, `renamed-${b.handle}`)])
  s.accounts.deactivateAccount(b.did)
  s.sequencer.append([accountEvent(b.did, 'deactivated')])
  s.accounts.activateAccount(b.did)
  s.sequencer.append([accountEvent(b.did, 'active')])
}

before(async () => {
  pds = await startTestPds()
  live = new Consumer(pds.url)
  await live.opened
  firehose = new Firehose({
    service: pds.url.replace(/^http/, 'ws'),
    idResolver: new IdResolver({ plcUrl: pds.plcUrl }),
    // Test handles do not resolve; the handle itself is not what is checked here.
    unauthenticatedHandles: true,
    handleEvent: (evt) => {
      syncEvents.push(evt)
    },
    onError: (err) => {
      syncErrors.push(err)
    },
  })
  void firehose.start()
  await waitFor(() => pds.hearth.services.firehose.subscriberCount === 2, 5000, 'the Firehose client to connect')
  await workload()
  await live.until(() => live.lastSeq() === lastSeq(), 10_000, 'the live consumer to catch up')
  // The client verifies (and resolves DIDs) before handing events over: wait for the last one.
  await waitFor(() => syncEvents.some((e) => e.seq === lastSeq()) || syncErrors.length > 0, 10_000, 'the Firehose client')
})

after(async () => {
  live?.close()
  await firehose?.destroy()
  await pds?.close()
})

function commitFrames(frames: Frame[]): Frame[] {
  return frames.filter((f) => f.header.t === '#commit')
}

describe('live events', () => {
  test('arrive in order with gap-free seq, of every kind', () => {
    const evts = live.events()
    assert.ok(evts.length > 30, `${evts.length} events`)
    evts.forEach((f, i) => {
      if (i > 0) assert.equal(f.body.seq, evts[i - 1].body.seq + 1)
    })
    assert.equal(evts.at(-1)!.body.seq, lastSeq())
    const kinds = new Set(evts.map((f) => f.header.t))
    for (const t of ['#commit', '#sync', '#identity', '#account']) assert.ok(kinds.has(t), t)
    const acct = evts.filter((f) => f.header.t === '#account' && f.body.did === accounts[1].did).map((f) => [f.body.active, f.body.status])
    assert.deepEqual(acct.slice(-2), [
      [false, 'deactivated'],
      [true, undefined],
    ])
  })

  test('every #commit inverts with only its own blocks and is signed by the account key', () => {
    const commits = commitFrames(live.events())
    let withOps = 0
    for (const f of commits) {
      const b = f.body
      const car = readCar(b.blocks.buf ?? b.blocks)
      assert.ok(cidEquals(car.root, b.commit as Cid), 'the CAR root is the commit')
      const commit = decodeCommit(car.blocks.getBlock(b.commit)!)
      assert.equal(commit.rev, b.rev)
      assert.equal(commit.did, b.repo)
      const key = pds.hearth.services.actors.get(b.repo)!.keypair().did()
      assert.ok(verifyCommitSig(commit, key))
      for (const op of b.ops) if (op.action !== 'create') assert.ok(op.prev, `${op.action} carries prev`)
      checkInversion(car.blocks, commit.data, b.ops, b.prevData ?? null)
      if (b.ops.length > 0) withOps++
    }
    assert.ok(withOps >= 3 * 5 + 3 + 3 + 1)
  })

  test('@atproto/sync verified and delivered every event, in order', () => {
    assert.deepEqual(syncErrors.map((e) => `${e} ${(e as any).cause ?? ""} ${String((e as any).err ?? "")}`), [])
    const raw = live.events()
    const ops = commitFrames(raw).reduce((n, f) => n + f.body.ops.length, 0)
    assert.equal(syncEvents.filter((e) => e.event === 'create' || e.event === 'update' || e.event === 'delete').length, ops)
    assert.equal(syncEvents.filter((e) => e.event === 'identity').length, raw.filter((f) => f.header.t === '#identity').length)
    assert.equal(syncEvents.filter((e) => e.event === 'account').length, raw.filter((f) => f.header.t === '#account').length)
    assert.equal(syncEvents.filter((e) => e.event === 'sync').length, raw.filter((f) => f.header.t === '#sync').length)
    for (let i = 1; i < syncEvents.length; i++) assert.ok(syncEvents[i].seq >= syncEvents[i - 1].seq)
    // The rename: the raw frame names the new handle; the client resolved the DID document for it.
    const frame = raw.find((f) => f.header.t === '#identity' && f.body.handle?.startsWith('renamed-'))
    assert.ok(frame)
    const seen = syncEvents.find((e) => e.seq === frame.body.seq)
    assert.equal(seen?.event, 'identity')
    assert.equal(seen.event === 'identity' && seen.didDocument?.id, accounts[1].did)
  })

  test('the state rebuilt from the firehose equals what getRepo exports', async () => {
    for (const a of accounts) {
      const state = new Map<string, string>()
      for (const f of commitFrames(live.events())) {
        if (f.body.repo !== a.did) continue
        for (const op of f.body.ops) {
          if (op.action === 'delete') state.delete(op.path)
          else state.set(op.path, op.cid.$link)
        }
      }
      const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${a.did}`)
      const repo = await verifyRepoCar(new Uint8Array(await res.arrayBuffer()), a.did)
      const exported = new Map(repo.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
      assert.deepEqual(exported, state)
      assert.ok(state.size >= 3)
    }
  })
})

describe('cursors', () => {
  test('a replay from cursor 0 gives exactly the bytes the live consumer saw', async () => {
    const replay = new Consumer(pds.url, '?cursor=0')
    await replay.until(() => replay.lastSeq() === lastSeq(), 10_000, 'the replay')
    replay.close()
    const liveRaw = live.events().map((f) => Buffer.from(f.raw).toString('hex'))
    const first = live.events()[0].body.seq
    const replayRaw = replay.events().filter((f) => f.body.seq >= first).map((f) => Buffer.from(f.raw).toString('hex'))
    assert.equal(replayRaw.length, liveRaw.length)
    assert.deepEqual(replayRaw, liveRaw)
    assert.equal(replay.events()[0].body.seq, 1)
  })

  test('a replay from the middle continues into live events without gap or duplicate', async () => {
    const mid = Math.floor(lastSeq() / 2)
    const c = new Consumer(pds.url, `?cursor=${mid}`)
    await c.until(() => c.lastSeq() === lastSeq(), 10_000, 'the mid replay')
    const a = accounts[2]
    await a.agent.com.atproto.repo.createRecord({ repo: a.did, collection: COL, record: { $type: COL, i: 1234 } })
    await c.until(() => c.lastSeq() === lastSeq(), 10_000, 'the live tail')
    c.close()
    const seqs = c.events().map((f) => f.body.seq)
    assert.deepEqual(seqs, Array.from({ length: lastSeq() - mid }, (_, i) => mid + 1 + i))
  })

  test('a future cursor gets the FutureCursor error frame and is closed', async () => {
    const c = new Consumer(pds.url, `?cursor=${lastSeq() + 1000}`)
    await c.closed
    assert.equal(c.frames.length, 1)
    assert.equal(c.frames[0].header.op, -1)
    assert.equal(c.frames[0].body.error, 'FutureCursor')
  })

  for (const bad of ['abc', '-1', '1.5', '99999999999999999999']) {
    test(`a malformed cursor (${bad}) gets an error frame`, async () => {
      const c = new Consumer(pds.url, `?cursor=${encodeURIComponent(bad)}`)
      await c.closed
      assert.equal(c.frames.length, 1)
      assert.equal(c.frames[0].header.op, -1)
      assert.equal(c.frames[0].body.error, 'InvalidRequest')
    })
  }
})

describe('fan-out', () => {
  test('200 concurrent subscribers all receive every event written meanwhile', async () => {
    const subs = Array.from({ length: 200 }, () => new Consumer(pds.url, '', { keep: false }))
    try {
      await Promise.all(subs.map((s) => s.opened))
      await waitFor(() => pds.hearth.services.firehose.subscriberCount >= 202, 5000, 'all subscribers')
      const start = lastSeq()
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          accounts.map((a) => a.agent.com.atproto.repo.createRecord({ repo: a.did, collection: COL, record: { $type: COL, round } })),
        )
      }
      const end = lastSeq()
      assert.equal(end - start, 30)
      await Promise.all(subs.map((s) => s.until(() => s.lastSeq() === end, 15_000, 'fan-out')))
      const expected = Array.from({ length: 30 }, (_, i) => start + 1 + i)
      for (const s of subs) assert.deepEqual(s.events().map((f) => f.body.seq), expected)
    } finally {
      for (const s of subs) s.close()
    }
  })
})
