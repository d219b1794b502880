// repo_root written behind the event log: heads noted from #commit and #sync events reach the
// table in one batch, every read of it sees them, a #commit never replaces a newer head with an
// older one while a #sync sets it as it is, and the seq the table reaches is kept for the replay
// at the next start.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { join } from 'node:path'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { cidForCbor } from '../../src/repo/cid.ts'
import { accountEvent, syncEvent } from '../../src/sequencer/events.ts'
import { ALICE, BOB, addAccount, tempStore } from './helpers.ts'

function commitRow(seq: number, did: string, rev: string) {
  const commit = cidForCbor(encodeCbor({ did, rev }))
  return { row: { seq, did, eventType: 'append', event: encodeCbor({ repo: did, commit, rev, ops: [] }) }, cid: commit.$link }
}

/** The row as stored, past the store's write-behind (a read through the store would flush it). */
function rawHead(t: ReturnType<typeof tempStore>, did: string): { cid: string; rev: string } {
  return t.db.prepare('SELECT "cid", "rev" FROM "repo_root" WHERE "did" = ?').get(did) as { cid: string; rev: string }
}

test('repo_root behind the log: batched, read through, only forward, with the seq it reaches', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const raw = (did: string) => rawHead(t, did)
    const before = raw(ALICE)
    const a1 = commitRow(7, ALICE, '3kbbbbbbbbbb2')
    const a2 = commitRow(9, ALICE, '3kcccccccccc2')
    const b1 = commitRow(8, BOB, '3kbbbbbbbbbc2')
    t.store.noteHeadEvents([a1.row, b1.row, { seq: 10, did: BOB, eventType: 'identity', event: encodeCbor({ did: BOB }) }])
    t.store.noteHeadEvents([a2.row])
    assert.deepEqual(raw(ALICE), before, 'not written per commit')
    // A reader writes what is pending first.
    assert.equal(t.store.getRepoRoot(ALICE)?.cid, a2.cid)
    assert.equal(t.store.getRepoRoot(ALICE)?.rev, '3kcccccccccc2')
    assert.deepEqual(raw(BOB), { cid: b1.cid, rev: '3kbbbbbbbbbc2' })
    assert.equal(t.store.repoRootSeq(), 9)
    // listRepos too.
    t.store.noteHeadEvents([commitRow(11, BOB, '3kdddddddddd2').row])
    assert.equal(t.store.listRepos({ limit: 10 }).repos.find((r) => r.did === BOB)?.rev, '3kdddddddddd2')
    // A replayed older event (a start replaying the log) leaves the newer head.
    t.store.noteHeadEvents([a1.row])
    t.store.flushRepoRoots()
    assert.deepEqual(raw(ALICE), { cid: a2.cid, rev: '3kcccccccccc2' })
    // A head for an account that is gone does not bring its row back.
    t.store.deleteAccount(BOB)
    t.store.noteHeadEvents([commitRow(12, BOB, '3keeeeeeeeee2').row])
    t.store.flushRepoRoots()
    assert.equal((t.db.prepare('SELECT count(*) AS n FROM "repo_root" WHERE "did" = ?').get(BOB) as { n: number }).n, 0)
    assert.equal(t.store.repoRootSeq(), 12)
  } finally {
    t.cleanup()
  }
})

function syncRow(seq: number, did: string, rev: string) {
  const bytes = encodeCbor({ did, rev, data: 'x' })
  const commit = cidForCbor(bytes)
  return { row: { seq, ...syncEvent(did, rev, commit, bytes) }, cid: commit.$link }
}

test('repo_root behind the log: a #sync sets the head even to an older rev, a deletion drops what is pending', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const raw = (did: string) => rawHead(t, did)
    const newer = commitRow(5, ALICE, '3kzzzzzzzzzz2')
    t.store.noteHeadEvents([newer.row])
    t.store.flushRepoRoots()
    // An import of an older repo, announced by activation's #sync: the head goes back.
    const imported = syncRow(6, ALICE, '3kbbbbbbbbbb2')
    t.store.noteHeadEvents([imported.row])
    assert.deepEqual(t.store.getRepoRoot(ALICE) && raw(ALICE), { cid: imported.cid, rev: '3kbbbbbbbbbb2' })
    // A commit after the #sync in the same batch follows it, even one older than the table's head
    // before the batch.
    const older = commitRow(8, ALICE, '3kaaaaaaaaaa2')
    t.store.noteHeadEvents([newer.row, syncRow(7, ALICE, '3k2222222222a').row, older.row])
    t.store.flushRepoRoots()
    assert.deepEqual(raw(ALICE), { cid: older.cid, rev: '3kaaaaaaaaaa2' })
    // Without a #sync in the batch, a #commit still only moves forward.
    t.store.noteHeadEvents([commitRow(9, ALICE, '3k2222222222b').row])
    t.store.flushRepoRoots()
    assert.deepEqual(raw(ALICE), { cid: older.cid, rev: '3kaaaaaaaaaa2' })
    // A deletion's #account event drops the account's pending head: an account created again
    // with the same DID keeps its own.
    t.store.noteHeadEvents([syncRow(10, BOB, '3kbbbbbbbbbb3').row])
    t.store.deleteAccount(BOB)
    t.store.noteHeadEvents([{ seq: 11, ...accountEvent(BOB, 'deleted') }])
    addAccount(t.store, BOB, 'bob.test')
    const recreated = raw(BOB)
    t.store.flushRepoRoots()
    assert.deepEqual(raw(BOB), recreated)
  } finally {
    t.cleanup()
  }
})

test('repo_root behind the log: a new data directory records where the table stands, so a crash before the first batch is replayed at the next start', async () => {
  const { followRepoRoots } = await import('../../src/actions/repo-roots.ts')
  const { Sequencer } = await import('../../src/sequencer/sequencer.ts')
  const t = tempStore()
  const sequencer = new Sequencer(join(t.dir, 'sequencer.sqlite'))
  try {
    addAccount(t.store, ALICE, 'alice.test')
    followRepoRoots({ accounts: t.store, sequencer })
    assert.equal(t.store.repoRootSeq(), 0, 'an empty log: the table stands at seq 0')
    // A commit reaches the log, then the process is killed before its head's batch is written.
    const c = commitRow(0, ALICE, '3kffffffffff2')
    sequencer.append([{ did: ALICE, eventType: 'append', event: c.row.event }])
    // The next start (a store over the same file, with nothing pending) replays the log past seq 0.
    const again = t.openAnother().store
    followRepoRoots({ accounts: again, sequencer })
    assert.equal(again.getRepoRoot(ALICE)?.rev, '3kffffffffff2')
    assert.equal(again.getRepoRoot(ALICE)?.cid, c.cid)
  } finally {
    sequencer.close()
    t.cleanup()
  }
})
