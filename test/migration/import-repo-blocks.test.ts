// importRepo keeps the block store exact: after an import the account's repo_block table holds
// the blocks of the imported tree (its nodes, its records, the commit) and nothing else, and the
// repo goes on taking writes. The empty tree is the edge case: its root is a block too.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { MemoryBlockstore, readCarWithRoot, Repo, verifyRepoCar } from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { carToBytes, readCar } from '../../src/repo/car/index.ts'
import { buildCommit, prepareWrite } from '../../src/repo/commit-builder.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds

before(async () => {
  pds = await startTestPds()
})

after(async () => {
  await pds?.close()
})

async function exportRepo(did: string): Promise<Uint8Array> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${did}`)
  assert.equal(res.status, 200)
  return new Uint8Array(await res.arrayBuffer())
}

async function importCar(accessJwt: string, body: Uint8Array): Promise<{ status: number; json: any }> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.importRepo`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.ipld.car', authorization: `Bearer ${accessJwt}` },
    body,
  })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : null }
}

function actorStore(did: string) {
  const store = pds.hearth.services.actors.get(did)
  assert.ok(store)
  return store
}

/**
 * Verifies the served repo with the reference implementation and checks that the store holds
 * exactly its blocks: every MST node and record of the current tree, and the current commit.
 */
async function assertStoreIsExactlyTheRepo(did: string, records: number): Promise<void> {
  const store = actorStore(did)
  const car = await exportRepo(did)
  const verified = await verifyRepoCar(car, did, store.keypair().did())
  assert.equal(verified.creates.length, records)
  const { root, blocks } = await readCarWithRoot(car)
  const repo = await Repo.load(new MemoryBlockstore(blocks), root)
  const want = [...(await repo.data.allCids()).toList().map((c) => c.toString()), root.toString()].sort()
  const have = (store.db.prepare('SELECT "cid" FROM repo_block').pluck().all() as string[]).sort()
  assert.equal(have.length, want.length, `repo_block holds ${have.length} blocks, the repo has ${want.length}`)
  assert.deepEqual(have, want)
  assert.equal(store.counts().blocks, want.length)
}

test('importing an empty repo over one with records stores the empty root: writes go on and no block is left over', async () => {
  const alice = await pds.createAccount('alice')
  const empty = await exportRepo(alice.did)
  assert.equal((await verifyRepoCar(empty, alice.did)).creates.length, 0)
  for (let i = 0; i < 6; i++) await alice.agent.post({ text: `post ${i}` })
  await assertStoreIsExactlyTheRepo(alice.did, 6)

  const res = await importCar(alice.agent.session?.accessJwt as string, empty)
  assert.equal(res.status, 200, JSON.stringify(res.json))
  await assertStoreIsExactlyTheRepo(alice.did, 0)

  // The next write builds on the imported (empty) root, which must therefore be stored.
  const created = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'after the import', createdAt: new Date().toISOString() },
  })
  assert.match(created.data.uri, new RegExp(`^at://${alice.did}/app.bsky.feed.post/`))
  await assertStoreIsExactlyTheRepo(alice.did, 1)
})

test('importing a repo into a fresh account drops the fresh account\u2019s empty root', async () => {
  const bob = await pds.createAccount('bob')
  const store = actorStore(bob.did)
  const head = store.head()
  assert.ok(head)
  // Bob's repo with three records, signed with his key, built beside the store and not applied.
  const writes = [0, 1, 2].map((i) =>
    prepareWrite({
      action: 'create',
      collection: 'app.bsky.feed.post',
      rkey: `3kaaaaaaaaaa${i + 2}`,
      record: { $type: 'app.bsky.feed.post', text: `imported ${i}`, createdAt: new Date().toISOString() },
    }),
  )
  const next = buildCommit({ did: bob.did, commitCid: head.cid, rev: head.rev }, store.tree(), writes, store.keypair())
  const blocks = new BlockMap().addMap(readCar(await exportRepo(bob.did)).blocks).addMap(next.newBlocks)
  const res = await importCar(bob.agent.session?.accessJwt as string, carToBytes(next.cid, blocks))
  assert.equal(res.status, 200, JSON.stringify(res.json))
  await assertStoreIsExactlyTheRepo(bob.did, 3)
  await bob.agent.post({ text: 'after the import' })
  await assertStoreIsExactlyTheRepo(bob.did, 4)
})
