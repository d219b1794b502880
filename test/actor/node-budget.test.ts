// The decoded MST nodes kept by many open stores stay within one process-wide budget, and what the
// budget drops reloads correctly: reads, later writes and a verified export see the same repos.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { verifyRepoCar } from '@atproto/repo'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import type { ActorStore } from '../../src/actor/store.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { carToBytes } from '../../src/repo/car/index.ts'
import { decodeCbor } from '../../src/repo/cbor.ts'
import type { Cid } from '../../src/repo/cid.ts'
import { prepareWrite, type RecordWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { repoBlocks } from '../../src/repo/export.ts'
import { Mst, type MstNode, NodeStore, SubRef } from '../../src/repo/mst/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'

const dir = mkdtempSync(join(tmpdir(), 'hearth-node-budget-'))
const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
const BUDGET = 200
const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, 100, { mstNodeCache: BUDGET })
after(() => {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
})

const ACCOUNTS = 30
const RECORDS = 100
const did = (a: number) => `did:plc:nodebudget${String(a).padStart(14, '0')}`
const rkey = (i: number) => `3k${(600000 + i).toString(36)}aaaa`
const post = (a: number, i: number): RecordWrite => ({
  action: 'create',
  collection: 'app.bsky.feed.post',
  rkey: rkey(i),
  record: { $type: 'app.bsky.feed.post', text: `account ${a} post ${i}`, createdAt: new Date(1_700_000_000_000 + i).toISOString() },
})

/** Nodes a store's tree keeps through in-memory pointers, its root included. */
function nodesHeld(store: ActorStore): number {
  const seen = new Set<MstNode>()
  const visit = (node: MstNode): void => {
    if (seen.has(node)) return
    seen.add(node)
    for (const e of node.entries) if (e instanceof SubRef && e.node) visit(e.node)
  }
  visit(store.tree().root)
  return seen.size
}

/** Every leaf of the repo at the store's head, read from its blocks alone (no cache). */
function leavesFromBlocks(store: ActorStore): Array<[string, string]> {
  const head = store.head()
  assert.ok(head)
  const commit = store.getBlock(head.cid)
  assert.ok(commit)
  const data = (decodeCbor(commit) as { data: Cid }).data
  const fresh = Mst.load(new NodeStore(store, { cacheSize: 0 }), data)
  const out: Array<[string, string]> = []
  fresh.walk((k, v) => void out.push([k, v.$link]))
  return out
}

function leaves(tree: Mst): Array<[string, string]> {
  const out: Array<[string, string]> = []
  tree.walk((k, v) => void out.push([k, v.$link]))
  return out
}

test('many open stores keep no more decoded MST nodes than the budget, plus a root each', () => {
  const stores: ActorStore[] = []
  for (let a = 0; a < ACCOUNTS; a++) {
    const store = actors.create(did(a), Secp256k1Keypair.create())
    initRepo(store)
    for (let i = 0; i < RECORDS; i += 10) {
      commitWrites(store, sequencer, { writes: Array.from({ length: 10 }, (_, j) => prepareWrite(post(a, i + j))) })
    }
    stores.push(store)
  }
  // Far more nodes than the budget were built: each repo alone has dozens.
  const total = stores.reduce((n, s) => n + leavesFromBlocks(s).length, 0)
  assert.equal(total, ACCOUNTS * RECORDS)
  for (const store of stores) assert.equal(nodesHeld(store), 1, `${store.did}'s tree keeps only its root`)
  assert.ok(actors.nodeCache.size <= BUDGET, `${actors.nodeCache.size} nodes cached`)
})

test('nodes the budget dropped reload: reads, further writes and the export agree with the blocks', async () => {
  for (let a = 0; a < ACCOUNTS; a++) {
    const store = actors.get(did(a)) as ActorStore
    // Read through the shared cache (mostly misses now), then write on it, then read again.
    const tree = store.tree()
    assert.equal(tree.get(`app.bsky.feed.post/${rkey(7)}`)?.$link, store.getRecord('app.bsky.feed.post', rkey(7))?.cid.$link)
    commitWrites(store, sequencer, {
      writes: [prepareWrite(post(a, RECORDS)), prepareWrite({ action: 'delete', collection: 'app.bsky.feed.post', rkey: rkey(a) })],
    })
    const now = leaves(store.tree())
    assert.deepEqual(now, leavesFromBlocks(store))
    assert.equal(now.length, RECORDS)
    assert.ok(!now.some(([k]) => k === `app.bsky.feed.post/${rkey(a)}`))
    assert.equal(nodesHeld(store), 1)
  }
  assert.ok(actors.nodeCache.size <= BUDGET)
  // The last repo exports and verifies with the official verifier.
  const store = actors.get(did(ACCOUNTS - 1)) as ActorStore
  const head = store.head()
  assert.ok(head)
  const car = carToBytes(head.cid, repoBlocks(store, head.cid))
  const verified = await verifyRepoCar(car, did(ACCOUNTS - 1), store.keypair().did())
  assert.equal(verified.creates.length, RECORDS)
})

test('a budget of 0 keeps no nodes, and writes still work', () => {
  const d = mkdtempSync(join(tmpdir(), 'hearth-node-budget0-'))
  const seq = new Sequencer(join(d, 'sequencer.sqlite'))
  const m = new ActorStoreManager(join(d, 'actors'), seq, 10, { mstNodeCache: 0 })
  try {
    const store = m.create(did(0), Secp256k1Keypair.create())
    initRepo(store)
    for (let i = 0; i < 60; i++) commitWrites(store, seq, { writes: [prepareWrite(post(0, i))] })
    assert.equal(m.nodeCache.size, 0)
    assert.deepEqual(leaves(store.tree()), leavesFromBlocks(store))
    assert.equal(leaves(store.tree()).length, 60)
  } finally {
    m.closeAll()
    seq.close()
    rmSync(d, { recursive: true, force: true })
  }
})
