// repo_root written behind the event log: heads noted from #commit events reach the table in one
// batch, every read of it sees them, an older head never replaces a newer one, and the seq the
// table reaches is kept for the replay at the next start.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { cidForCbor } from '../../src/repo/cid.ts'
import { ALICE, BOB, addAccount, tempStore } from './helpers.ts'

function commitRow(seq: number, did: string, rev: string) {
  const commit = cidForCbor(encodeCbor({ did, rev }))
  return { row: { seq, did, eventType: 'append', event: encodeCbor({ repo: did, commit, rev, ops: [] }) }, cid: commit.$link }
}

test('repo_root behind the log: batched, read through, only forward, with the seq it reaches', () => {
  const t = tempStore()
  try {
    addAccount(t.store, ALICE, 'alice.test')
    addAccount(t.store, BOB, 'bob.test')
    const raw = (did: string) => t.db.prepare('SELECT "cid", "rev" FROM "repo_root" WHERE "did" = ?').get(did) as { cid: string; rev: string }
    const before = raw(ALICE)
    const a1 = commitRow(7, ALICE, '3kbbbbbbbbbb2')
    const a2 = commitRow(9, ALICE, '3kcccccccccc2')
    const b1 = commitRow(8, BOB, '3kbbbbbbbbbc2')
    t.store.noteCommitEvents([a1.row, b1.row, { seq: 10, did: BOB, eventType: 'identity', event: encodeCbor({ did: BOB }) }])
    t.store.noteCommitEvents([a2.row])
    assert.deepEqual(raw(ALICE), before, 'not written per commit')
    // A reader writes what is pending first.
    assert.equal(t.store.getRepoRoot(ALICE)?.cid, a2.cid)
    assert.equal(t.store.getRepoRoot(ALICE)?.rev, '3kcccccccccc2')
    assert.deepEqual(raw(BOB), { cid: b1.cid, rev: '3kbbbbbbbbbc2' })
    assert.equal(t.store.repoRootSeq(), 9)
    // listRepos too.
    t.store.noteCommitEvents([commitRow(11, BOB, '3kdddddddddd2').row])
    assert.equal(t.store.listRepos({ limit: 10 }).repos.find((r) => r.did === BOB)?.rev, '3kdddddddddd2')
    // A replayed older event (a start replaying the log) leaves the newer head.
    t.store.noteCommitEvents([a1.row])
    t.store.flushRepoRoots()
    assert.deepEqual(raw(ALICE), { cid: a2.cid, rev: '3kcccccccccc2' })
    // A head for an account that is gone does not bring its row back.
    t.store.deleteAccount(BOB)
    t.store.noteCommitEvents([commitRow(12, BOB, '3keeeeeeeeee2').row])
    t.store.flushRepoRoots()
    assert.equal((t.db.prepare('SELECT count(*) AS n FROM "repo_root" WHERE "did" = ?').get(BOB) as { n: number }).n, 0)
    assert.equal(t.store.repoRootSeq(), 12)
  } finally {
    t.cleanup()
  }
})
