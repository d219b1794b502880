// A commit's replaced MST nodes leave the shared node cache with their blocks: after many writes
// to one repo the cache holds no more nodes than the repo's current tree has, instead of filling
// its budget with nodes no tree uses any more.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { decodeCbor } from '../../src/repo/cbor.ts'
import type { Cid } from '../../src/repo/cid.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Mst, NodeStore } from '../../src/repo/mst/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'

const dir = mkdtempSync(join(tmpdir(), 'hearth-node-forget-'))
const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, 10, { mstNodeCache: 10_000 })
after(() => {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
})

test('after 400 writes the node cache holds at most the nodes of the current tree', () => {
  const did = 'did:plc:nodeforget0000000000000'
  const store = actors.create(did, Secp256k1Keypair.create())
  initRepo(store)
  const rkey = (i: number) => `3k${(700000 + i).toString(36)}aaaa`
  for (let i = 0; i < 400; i++) {
    const writes = [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: rkey(i), record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date(1_700_000_000_000 + i).toISOString() } })]
    // Every fifth write also rewrites an earlier record: updates replace nodes as creates do.
    if (i % 5 === 4) writes.push(prepareWrite({ action: 'update', collection: 'app.bsky.feed.post', rkey: rkey(i - 3), record: { $type: 'app.bsky.feed.post', text: `edited ${i}`, createdAt: new Date().toISOString() } }))
    commitWrites(store, sequencer, { writes })
  }
  const head = store.head()
  assert.ok(head)
  const data = (decodeCbor(store.getBlock(head.cid) as Uint8Array) as { data: Cid }).data
  const fresh = Mst.load(new NodeStore(store, { cacheSize: 0 }), data)
  const live = fresh.allNodeBlocks().size
  assert.ok(live > 20, `only ${live} nodes in the tree`)
  // Each of the 400 commits replaced several nodes; kept, they would be well over the live count.
  assert.ok(actors.nodeCache.size <= live, `${actors.nodeCache.size} nodes cached for a tree of ${live}`)
  // What the cache holds is still the truth: the tree read through it equals the blocks.
  const leaves = (t: Mst) => {
    const out: string[] = []
    t.walk((k, v) => void out.push(`${k} ${v.$link}`))
    return out
  }
  assert.deepEqual(leaves(store.tree()), leaves(fresh))
  assert.equal(leaves(fresh).length, 400)
})
