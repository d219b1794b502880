// Commits of the write path append their events at the end of the turn, several commits in one
// transaction of the log: the log keeps the order of the calls, readers that need an account's
// latest event see the queued ones, a failed batch rejects its callers and appends nothing, and
// over HTTP every acknowledged write is in the log, each account's events chained in order.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { decodeCbor } from '../../src/repo/cbor.ts'
import { identityEvent, type SeqEvent } from '../../src/sequencer/events.ts'
import { Sequencer, type SeqRow } from '../../src/sequencer/sequencer.ts'
import { startTestPds } from '../helpers/pds.ts'

function withSequencer(fn: (seq: Sequencer) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hearth-append-soon-'))
    const seq = new Sequencer(join(dir, 'sequencer.sqlite'))
    try {
      await fn(seq)
    } finally {
      seq.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

const ev = (did: string, n: number): SeqEvent => ({ did, eventType: 'append', event: new Uint8Array([n]) })

test(
  'appendSoon: one turn of commits is one append, in call order, after the turn',
  withSequencer(async (seq) => {
    const notified: SeqRow[][] = []
    seq.on('events', (rows) => notified.push(rows))
    const a = seq.appendSoon([ev('did:a', 1)])
    const b = seq.appendSoon([ev('did:b', 2)])
    const c = seq.appendSoon([ev('did:a', 3)])
    assert.equal(seq.lastSeq(), null, 'nothing is in the log before the turn ends')
    const [ra, rb, rc] = await Promise.all([a, b, c])
    assert.deepEqual([ra, rb, rc].map((r) => r.map((x) => x.seq)), [[1], [2], [3]])
    assert.equal(notified.length, 1, 'listeners hear the batch once')
    assert.deepEqual(notified[0]?.map((r) => [r.did, r.event[0]]), [['did:a', 1], ['did:b', 2], ['did:a', 3]])
    assert.deepEqual(seq.range(0, 10).map((r) => r.seq), [1, 2, 3])
  }),
)

test(
  'a listener that throws does not fail the appends whose events are in the log, nor keep the events from the other listeners',
  withSequencer(async (seq) => {
    const reported: unknown[] = []
    seq.onListenerError = (err) => reported.push(err)
    seq.on('events', () => {
      throw new Error('a listener bug')
    })
    const heard: number[] = []
    seq.on('events', (rows) => heard.push(...rows.map((r) => r.seq)))
    const queued = await seq.appendSoon([ev('did:a', 1)])
    assert.deepEqual(queued.map((r) => r.seq), [1], 'the queued commit resolves: its event is in the log')
    const direct = seq.append([ev('did:b', 2)])
    assert.deepEqual(direct.map((r) => r.seq), [2], 'a direct append returns its rows')
    assert.deepEqual(heard, [1, 2], 'the listener after the throwing one still hears every event')
    assert.equal(reported.length, 2, 'each throw is reported, not swallowed')
    assert.match(String(reported[0]), /a listener bug/)
    assert.deepEqual(seq.range(0, 10).map((r) => r.seq), [1, 2])
  }),
)

test(
  'appendSoon: a direct append and the latest-event lookup come after what is queued',
  withSequencer(async (seq) => {
    const queued = seq.appendSoon([ev('did:a', 1)])
    const [direct] = seq.append([identityEvent('did:a', 'a.test')])
    assert.equal(direct?.seq, 2, 'the queued commit keeps its place before the later event')
    assert.deepEqual((await queued).map((r) => r.seq), [1])
    const later = seq.appendSoon([ev('did:a', 7)])
    const last = seq.lastOfType('did:a', 'append')
    assert.equal(last?.seq, 3, 'an account\'s latest commit event includes the queued one')
    assert.equal(last?.event[0], 7)
    assert.deepEqual((await later).map((r) => r.seq), [3])
  }),
)

test(
  'appendSoon: a batch that fails rejects every caller and appends nothing',
  withSequencer(async (seq) => {
    const good = seq.appendSoon([ev('did:a', 1)])
    // NOT NULL on repo_seq.did: the insert fails inside the batch's transaction.
    const bad = seq.appendSoon([{ did: null as unknown as string, eventType: 'append', event: new Uint8Array([2]) }])
    const results = await Promise.allSettled([good, bad])
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'])
    assert.equal(seq.lastSeq(), null)
    // The log still works for the next writer.
    assert.deepEqual((await seq.appendSoon([ev('did:a', 3)])).map((r) => r.seq), [1])
  }),
)

test('concurrent writes to several accounts: each answered write is in the log, chained per account', async () => {
  const pds = await startTestPds()
  try {
    const accounts = await Promise.all([0, 1, 2, 3].map((i) => pds.createAccount(`soon${i}`)))
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const { agent, did } = accounts[i % accounts.length] as (typeof accounts)[0]
        return agent.com.atproto.repo
          .createRecord({ repo: did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date().toISOString() } })
          .then((res) => ({ did, rev: (res.data.commit as { rev: string }).rev }))
      }),
    )
    const log = pds.hearth.services.sequencer.range(0, 1000).filter((r) => r.eventType === 'append')
    const byDid = new Map<string, Array<{ rev: string; since: string | null }>>()
    for (const row of log) {
      const body = decodeCbor(row.event) as { repo: string; rev: string; since: string | null }
      byDid.set(body.repo, [...(byDid.get(body.repo) ?? []), { rev: body.rev, since: body.since }])
    }
    for (const a of answers) assert.ok(byDid.get(a.did)?.some((e) => e.rev === a.rev), `the event of ${a.did}@${a.rev} is in the log`)
    for (const { did } of accounts) {
      const events = byDid.get(did) ?? []
      assert.equal(events.length, 7, "the account's first commit and its six posts")
      for (let i = 1; i < events.length; i++) {
        assert.equal(events[i]?.since, events[i - 1]?.rev, 'each event follows the previous commit of its account')
        assert.ok((events[i]?.rev as string) > (events[i - 1]?.rev as string))
      }
      const latest = await accounts[0]!.agent.com.atproto.sync.getLatestCommit({ did })
      assert.equal(latest.data.rev, events.at(-1)?.rev)
    }
  } finally {
    await pds.close()
  }
})
