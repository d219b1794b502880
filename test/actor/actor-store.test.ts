import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { verifyRepoCar } from '@atproto/repo'
import { ACTOR_SCHEMA_STAMP } from '../../src/actor/db.ts'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { carToBytes, readCar } from '../../src/repo/car/index.ts'
import { decodeCbor } from '../../src/repo/cbor.ts'
import type { Cid } from '../../src/repo/cid.ts'
import { buildCommit, prepareWrite, type RecordWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { repoBlocks } from '../../src/repo/export.ts'
import { checkInversion, type RepoOp } from '../../src/repo/inversion.ts'
import { commitEvent } from '../../src/sequencer/events.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { postWrite } from '../helpers/actor-stores.ts'

const dirs: string[] = []
// Every database is closed before exit: better-sqlite3 on Node 24 aborts when statements of a
// still-open database are finalized during process teardown.
const closers: Array<() => void> = []
after(() => {
  for (const c of closers.reverse()) c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function track<T extends { closeAll?: () => void; close?: () => void }>(x: T): T {
  closers.push(() => (x.closeAll ? x.closeAll() : x.close?.()))
  return x
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-actor-'))
  dirs.push(dir)
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, 10)
  track(actors)
  closers.push(() => sequencer.db.open && sequencer.close())
  return { dir, sequencer, actors }
}

const DID = 'did:plc:actorstoretest00000000000'

const post = postWrite

test('actor store: layout, writes, reads, events that invert, export that verifies, restart', async () => {
  const { dir, sequencer, actors } = setup()
  const keypair = Secp256k1Keypair.create()
  const store = actors.create(DID, keypair)
  const loc = actors.location(DID)
  assert.match(loc.directory, /actors\/[0-9a-f]{2}\/did:plc:actorstoretest/)
  assert.equal(statSync(loc.keyLocation).size, 32)
  assert.equal(statSync(loc.keyLocation).mode & 0o777, 0o600)
  const first = initRepo(store)
  assert.equal(store.head()?.rev, first.rev)

  for (let i = 0; i < 50; i++) commitWrites(store, sequencer, { writes: [prepareWrite(post(i))] })
  const upd = post(3)
  commitWrites(store, sequencer, {
    writes: [
      prepareWrite({ ...upd, action: 'update', record: { ...(upd as { record: object }).record, text: 'edited' } }),
      prepareWrite({ action: 'delete', collection: 'app.bsky.feed.post', rkey: post(4).rkey }),
    ],
  })
  assert.equal(store.getRecord('app.bsky.feed.post', post(4).rkey), null)
  const edited = store.getRecord('app.bsky.feed.post', post(3).rkey)
  assert.equal((decodeCbor(edited?.content as Uint8Array) as { text: string }).text, 'edited')
  const listed = store.listRecords('app.bsky.feed.post', { limit: 100 })
  assert.equal(listed.length, 49)
  assert.ok(listed[0].rkey > listed[1].rkey, 'newest first by default')
  const page = store.listRecords('app.bsky.feed.post', { limit: 10, reverse: true, cursor: listed[40].rkey })
  assert.deepEqual(
    page.map((r) => r.rkey),
    listed.slice(0, 40).reverse().slice(0, 10).map((r) => r.rkey),
  )
  assert.deepEqual(store.collections(), ['app.bsky.feed.post'])

  // Every sequenced commit event carries blocks that invert its ops onto prevData.
  const events = sequencer.range(0, 1000)
  assert.equal(events.length, 51)
  for (const row of events) {
    const evt = decodeCbor(row.event) as { blocks: { buf: Uint8Array }; ops: RepoOp[]; prevData: Cid; commit: Cid }
    const { blocks } = readCar(evt.blocks.buf)
    const commit = decodeCbor(blocks.get(evt.commit) as Uint8Array) as { data: Cid }
    checkInversion(blocks, commit.data, evt.ops, evt.prevData)
  }

  // The stored repo exports to a CAR the reference verifies, with no leftover blocks.
  const head = store.head() as { cid: Cid }
  const car = carToBytes(head.cid, repoBlocks(store, head.cid))
  const verified = await verifyRepoCar(car, DID, keypair.did())
  assert.equal(verified.creates.length, 49)
  assert.equal(store.counts().blocks, readCar(car).blocks.size, 'no orphaned blocks remain in repo_block')

  // Restart: a fresh manager sees the same repo.
  actors.closeAll()
  sequencer.close()
  const seq2 = new Sequencer(join(dir, 'sequencer.sqlite'))
  closers.push(() => seq2.close())
  const again = track(new ActorStoreManager(join(dir, 'actors'), seq2))
  const reopened = again.get(DID)
  assert.ok(reopened)
  assert.equal(reopened.head()?.cid.$link, head.cid.$link)
  assert.equal(reopened.keypair().did(), keypair.did())
  assert.equal(reopened.listRecords('app.bsky.feed.post', { limit: 100 }).length, 49)
  assert.equal(again.get('did:plc:nobody'), null)
  again.closeAll()
})

test('actor store: a commit whose event append was interrupted is sequenced on the next open', () => {
  const { dir, sequencer, actors } = setup()
  const store = actors.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  commitWrites(store, sequencer, { writes: [prepareWrite(post(1))] })
  // Simulate a stop between the actor transaction and the sequencer append.
  const commit = buildCommit(
    { did: DID, commitCid: store.head()?.cid ?? null, rev: store.head()?.rev ?? null },
    store.tree(),
    [prepareWrite(post(2))],
    store.keypair(),
  )
  store.applyCommit(commit, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: post(2).rkey, cid: commit.ops[0].cid }], [commitEvent(commit)])
  assert.equal(sequencer.range(0, 10).length, 1)
  actors.closeAll()
  const again = track(new ActorStoreManager(join(dir, 'actors'), sequencer))
  again.get(DID)
  const events = sequencer.range(0, 10)
  assert.equal(events.length, 2)
  assert.equal((decodeCbor(events[1].event) as { rev: string }).rev, commit.rev)
  // Opening again does not sequence it twice.
  again.closeAll()
  track(new ActorStoreManager(join(dir, 'actors'), sequencer)).get(DID)
  assert.equal(sequencer.range(0, 10).length, 2)
})

test('actor store: swapCommit mismatch is InvalidSwap and leaves the repo unchanged; cache evicts', () => {
  const { sequencer, actors } = setup()
  const store = actors.create(DID, Secp256k1Keypair.create())
  const first = initRepo(store)
  commitWrites(store, sequencer, { writes: [prepareWrite(post(1))] })
  const before = store.head()?.cid.$link
  assert.throws(
    () => commitWrites(store, sequencer, { writes: [prepareWrite(post(2))], swapCommit: first.cid }),
    (err: { error?: string }) => err.error === 'InvalidSwap',
  )
  assert.equal(store.head()?.cid.$link, before)
  assert.equal(store.getRecord('app.bsky.feed.post', post(2).rkey), null)
  for (let i = 0; i < 15; i++) {
    const s = actors.create(`did:plc:evict${i.toString().padStart(19, '0')}`, Secp256k1Keypair.create())
    initRepo(s)
  }
  // The first store was evicted and closed; get() reopens it intact.
  assert.equal(actors.get(DID)?.head()?.cid.$link, before)
})

test('actor store: a store opened again skips the migration check only while its schema stamp is current', () => {
  const { dir, sequencer, actors } = setup()
  const store = actors.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  const path = actors.location(DID).dbLocation
  assert.equal(store.db.pragma('user_version', { simple: true }), ACTOR_SCHEMA_STAMP)
  actors.closeAll()

  // A store the official PDS made or left (no stamp) whose Hearth index is missing: the next
  // open runs the migrations again and restores it.
  const raw = openDb(path)
  raw.exec('DROP INDEX "hearth_record_collection_rkey_idx"; DELETE FROM hearth_migration WHERE name = \'hearth-001-record-collection-rkey\'')
  raw.pragma('user_version = 0')
  raw.close()
  const again = track(new ActorStoreManager(join(dir, 'actors'), sequencer))
  const reopened = again.get(DID)
  assert.ok(reopened)
  const hasIndex = () =>
    reopened.db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'hearth_record_collection_rkey_idx'`).pluck().get() === 1
  assert.ok(hasIndex())
  assert.equal(reopened.db.pragma('user_version', { simple: true }), ACTOR_SCHEMA_STAMP)
  again.closeAll()

  // With the stamp current, the check is skipped: a dropped index (never done in practice) stays dropped.
  const raw2 = openDb(path)
  raw2.exec('DROP INDEX "hearth_record_collection_rkey_idx"')
  raw2.close()
  const third = track(new ActorStoreManager(join(dir, 'actors'), sequencer))
  const s3 = third.get(DID)
  assert.ok(s3)
  assert.equal(s3.db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'hearth_record_collection_rkey_idx'`).pluck().get(), 0)
  third.closeAll()
})

test('actor store: stores past the cache size are closed after the current work, not during it', async () => {
  const { sequencer, dir } = setup()
  const actors = track(new ActorStoreManager(join(dir, 'actors2'), sequencer, 3))
  const stores = []
  for (let i = 0; i < 5; i++) {
    const s = actors.create(`did:plc:lru${i.toString().padStart(21, '0')}`, Secp256k1Keypair.create())
    initRepo(s)
    stores.push(s)
  }
  // Within the same turn every store is still usable.
  assert.equal(actors.openCount, 5)
  for (const s of stores) assert.ok(s.isOpen)
  const heads = stores.map((s) => s.head()?.cid.$link)
  await new Promise((r) => setImmediate(r))
  // Then the two least recently used are closed. A get() hands back the same object (never two
  // for one account), whose connection reopens on use, intact, and counts in the cache again.
  assert.equal(actors.openCount, 3)
  assert.deepEqual(stores.map((s) => s.isOpen), [false, false, true, true, true])
  const reopened = actors.get(stores[0].did)
  assert.equal(reopened, stores[0])
  assert.equal(reopened.isOpen, false)
  assert.equal(reopened.head()?.cid.$link, heads[0])
  assert.equal(actors.openCount, 4)
  await new Promise((r) => setImmediate(r))
  assert.equal(actors.openCount, 3)
})

test('actor store: a store closed by the cache while a request holds it reopens when used, and writes on', async () => {
  const { sequencer, dir } = setup()
  const actors = track(new ActorStoreManager(join(dir, 'actors3'), sequencer, 2))
  const held = actors.create(DID, Secp256k1Keypair.create())
  initRepo(held)
  // Another request opens more stores than the cache holds while this one awaits.
  for (let i = 0; i < 3; i++) initRepo(actors.create(`did:plc:hold${i.toString().padStart(20, '0')}`, Secp256k1Keypair.create()))
  await new Promise((r) => setImmediate(r))
  assert.equal(held.isOpen, false)
  const { commit } = commitWrites(held, sequencer, { writes: [prepareWrite(post(1))] })
  assert.equal(held.isOpen, true)
  assert.equal(actors.get(DID), held)
  assert.equal(held.head()?.cid.$link, commit.cid.$link)
  assert.ok(held.getRecord('app.bsky.feed.post', post(1).rkey))
  await new Promise((r) => setImmediate(r))
  assert.equal(actors.openCount, 2)

  // A deleted account's store, still held, refuses to reopen rather than create an empty file.
  actors.destroy(DID)
  assert.throws(() => held.head(), /closed/)
  assert.equal(existsSync(actors.location(DID).dbLocation), false)
})

test('actor store: collections() lists each collection once, in order, as a DISTINCT over every record does', () => {
  const { sequencer, actors } = setup()
  const store = actors.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  assert.deepEqual(store.collections(), [])
  // A name that another begins with, a later one written first, several records each.
  const collections = ['app.bsky.feed.postgate', 'app.bsky.feed.post', 'com.example.z', 'app.bsky.graph.follow', 'app.bsky.feed.like']
  const write = (collection: string, i: number): RecordWrite => ({ action: 'create', collection, rkey: post(i).rkey, record: { $type: collection, i } })
  commitWrites(store, sequencer, { writes: collections.flatMap((c, j) => [0, 1, 2].map((k) => prepareWrite(write(c, j * 10 + k)))) })
  const distinct = () => store.db.prepare('SELECT DISTINCT "collection" FROM record ORDER BY "collection"').pluck().all()
  assert.deepEqual(store.collections(), [...collections].sort())
  assert.deepEqual(store.collections(), distinct())
  // A collection whose last record goes is no longer listed.
  commitWrites(store, sequencer, { writes: [0, 1, 2].map((k) => prepareWrite({ action: 'delete', collection: 'app.bsky.feed.post', rkey: post(10 + k).rkey })) })
  assert.deepEqual(store.collections(), ['app.bsky.feed.like', 'app.bsky.feed.postgate', 'app.bsky.graph.follow', 'com.example.z'])
  assert.deepEqual(store.collections(), distinct())
})

test('actor store: every store keeps one hidden class for its statements, whatever it prepared first', () => {
  // V8's own check of two objects' hidden classes (maps), through the natives syntax.
  setFlagsFromString('--allow-natives-syntax')
  const sameClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean
  const { sequencer, actors } = setup()
  const statementsOf = (store: object) => (store as unknown as { st: object }).st
  const a = actors.create(DID, Secp256k1Keypair.create())
  const b = actors.create('did:plc:actorstoretest00000000001', Secp256k1Keypair.create())
  const before = statementsOf(a)
  const fresh = statementsOf(b)
  // Different first uses: a commit on one, a listing and a count on the other.
  initRepo(a)
  commitWrites(a, sequencer, { writes: [prepareWrite(post(0))] })
  b.collections()
  b.counts()
  assert.equal(statementsOf(a), before, 'the same statements object')
  assert.ok(sameClass(before, fresh), 'a store that prepared statements has the class of one that prepared none')
  assert.ok(sameClass(statementsOf(a), statementsOf(b)), 'two stores with different first uses share one class')
  // Statements forgotten and prepared again (the idle release) keep it too.
  assert.ok(a.releaseMemory())
  a.head()
  assert.ok(sameClass(statementsOf(a), statementsOf(b)))
})

test('actor store: a closed store keeps its WAL files, and the next open writes on after the last frame', () => {
  const { dir, sequencer, actors } = setup()
  const store = actors.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  commitWrites(store, sequencer, { writes: [prepareWrite(post(1))] })
  const path = actors.location(DID).dbLocation
  actors.closeAll()
  assert.ok(existsSync(`${path}-wal`) && existsSync(`${path}-shm`))
  const walBefore = statSync(`${path}-wal`).size
  assert.ok(walBefore > 0)

  const again = track(new ActorStoreManager(join(dir, 'actors'), sequencer))
  const reopened = again.get(DID)
  assert.ok(reopened)
  assert.ok(reopened.getRecord('app.bsky.feed.post', post(1).rkey))
  commitWrites(reopened, sequencer, { writes: [prepareWrite(post(2))] })
  // Appended: a restarted WAL (a new header, synced) would be smaller than before.
  assert.ok(statSync(`${path}-wal`).size > walBefore)
  // Many writes make a large WAL: closing empties it rather than keep it, down to one page
  // (a WAL left empty would have its new header synced by the next write, on a request).
  for (let i = 3; i < 120; i++) commitWrites(reopened, sequencer, { writes: [prepareWrite(post(i))] })
  assert.ok(statSync(`${path}-wal`).size > 256 * 1024)
  again.closeAll()
  const kept = statSync(`${path}-wal`).size
  assert.ok(kept > 0 && kept <= 32 + 24 + 4096, `WAL kept: ${kept} bytes`)
  // A store only read between its open and its close leaves the database file untouched: its
  // recovered WAL frames were copied at the close before, and are not copied (and synced) again.
  const written = statSync(path).mtimeMs
  const third = track(new ActorStoreManager(join(dir, 'actors'), sequencer))
  assert.ok(third.get(DID)?.getRecord('app.bsky.feed.post', post(5).rkey))
  third.closeAll()
  assert.equal(statSync(path).mtimeMs, written)
  const raw = openDb(path, { readonly: true })
  assert.equal(raw.prepare('SELECT count(*) FROM record').pluck().get(), 119)
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok')
  raw.close()
})

test('actor store: closing drops the outbox rows the event log already holds, so the next open has none to check', () => {
  const { dir, sequencer, actors } = setup()
  const store = actors.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  commitWrites(store, sequencer, { writes: [prepareWrite(post(1))] })
  assert.equal(store.outbox().length, 1, 'the last commit keeps its event until something clears it')
  actors.closeAll()
  const again = track(new ActorStoreManager(join(dir, 'actors'), sequencer))
  const reopened = again.get(DID)
  assert.ok(reopened)
  assert.equal(reopened.outbox().length, 0)
  assert.equal(sequencer.range(0, 10).length, 1)
})
