// Stores unused for a while give back their page caches, and later are closed (one per turn of
// the event loop), by the manager's idle sweep.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { listRecordsJson } from '../../src/actor/record-listing.ts'
import type { ActorStore } from '../../src/actor/store.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { postWrite } from '../helpers/actor-stores.ts'

const dirs: string[] = []
const closers: Array<() => void> = []
after(() => {
  for (const c of closers.reverse()) c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Eight accounts' stores, each written once (its first commit), on a manager with `opts`. */
function writtenStores(prefix: string, opts: { idleCloseMs?: number; idleReleaseMs?: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-idle-'))
  dirs.push(dir)
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  closers.push(() => sequencer.db.open && sequencer.close())
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, 100, opts)
  closers.push(() => actors.closeAll())
  const dids = Array.from({ length: 8 }, (_, i) => `did:plc:${prefix}${String(i).padStart(11, '0')}`)
  const stores = dids.map((did) => actors.create(did, Secp256k1Keypair.create()))
  const heads = stores.map((s) => initRepo(s).cid.$link)
  return { sequencer, actors, dids, stores, heads }
}

test('idle close: stores unused past the idle time are closed one per event-loop turn, not all in one; a later use reopens them', async () => {
  // Written stores: closing each checkpoints it.
  const { actors, dids, stores } = writtenStores('idleclosetest', { idleCloseMs: 80 })
  assert.equal(actors.openCount, 8)

  const counts: number[] = []
  const deadline = Date.now() + 5000
  while (actors.openCount > 0) {
    if (Date.now() > deadline) throw new Error(`still ${actors.openCount} open`)
    await new Promise((r) => setImmediate(r))
    counts.push(actors.openCount)
  }
  for (let i = 1; i < counts.length; i++) {
    assert.ok((counts[i - 1] as number) - (counts[i] as number) <= 1, `closed more than one store in a turn: ${counts.join(',')}`)
  }
  assert.ok(stores.every((s) => !s.isOpen))
  // Once the sweep is done, what the connections held is handed back to the system, once.
  while (actors.memoryReturnCount === 0) {
    if (Date.now() > deadline) throw new Error('the sweep never gave memory back')
    await new Promise((r) => setImmediate(r))
  }
  assert.equal(actors.memoryReturnCount, 1)
  assert.equal(actors.get(dids[3] as string)?.head()?.cid.$link, stores[3]?.head()?.cid.$link)
  assert.equal(actors.openCount, 1)
})

test('idle release: stores unused past the release time free their page caches and stay open; a store used meanwhile keeps its cache; a released one reads on', async () => {
  const { sequencer, actors, dids, stores, heads } = writtenStores('idlereleasetst', { idleReleaseMs: 150 })
  assert.equal(actors.releasedCount, 0)

  // The listRecords handler's listing prepares statements record-listing keeps per connection.
  assert.equal(listRecordsJson((stores[6] as ActorStore).readDb, 'app.bsky.feed.post', { limit: 10 }).toString(), '{"records":[]}')
  // One store is used every 30 ms: it is never idle long enough.
  const busy = dids[5] as string
  const deadline = Date.now() + 5000
  while (actors.releasedCount < 7) {
    if (Date.now() > deadline) throw new Error(`${actors.releasedCount} released`)
    assert.equal(actors.get(busy)?.head()?.cid.$link, heads[5])
    await new Promise((r) => setTimeout(r, 30))
  }
  assert.equal(actors.releasedCount, 7)
  assert.equal(actors.openCount, 8)
  // What the caches held is handed back to the system once the sweep has freed them.
  while (actors.memoryReturnCount === 0) {
    if (Date.now() > deadline) throw new Error('the sweep never gave memory back')
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.ok(stores.every((s) => s.isOpen))
  // A released store answers as before, with its cache size kept; using it counts it out.
  const again = actors.get(dids[2] as string)
  assert.equal(again, stores[2])
  assert.equal(again?.readDb.pragma('cache_size', { simple: true }), -1024)
  const head = again?.head()
  assert.ok(head && again?.getBlock(head.cid), 'the commit block reads after the release')
  assert.equal(actors.releasedCount, 6)
  // Its statements were let go with the cache: a write prepares them again and lands.
  const released = stores[6] as NonNullable<(typeof stores)[6]>
  const write = prepareWrite(postWrite(1))
  const written = commitWrites(released, sequencer, { writes: [write] })
  assert.equal(released.getRecord('app.bsky.feed.post', postWrite(1).rkey)?.cid.$link, (write as { block: { cid: { $link: string } } }).block.cid.$link)
  assert.equal(released.head()?.rev, written.commit.rev)
  // And the listing's, let go with them, are prepared again.
  assert.match(listRecordsJson(released.readDb, 'app.bsky.feed.post', { limit: 10 }).toString(), new RegExp(`/app\\.bsky\\.feed\\.post/${postWrite(1).rkey}"`))
})

test('idle release: a store only read since it opened is closed instead, holds nothing, and its next read reopens the same store', async () => {
  const { sequencer, actors: writer, dids, heads } = writtenStores('idlereadonly', {})
  writer.closeAll()
  // As after a restart: the first use of each store is a read, which opens it read-only.
  const actors = new ActorStoreManager(writer.directory, sequencer, 100, { idleReleaseMs: 150 })
  closers.push(() => actors.closeAll())
  const readers = dids.slice(0, 4).map((did) => actors.get(did) as ActorStore)
  readers.forEach((store, i) => assert.equal(store.head()?.cid.$link, heads[i]))
  assert.ok(readers.every((store) => store.readDb.readonly))
  // One written since: it is released, not closed (its close would checkpoint).
  const written = actors.get(dids[4] as string, { forWrite: true }) as ActorStore
  assert.equal(written.readDb.readonly, false)
  assert.equal(actors.openCount, 5)

  const deadline = Date.now() + 5000
  while (actors.openCount > 1 || actors.releasedCount < 1 || actors.memoryReturnCount === 0) {
    if (Date.now() > deadline) throw new Error(`${actors.openCount} open, ${actors.releasedCount} released`)
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.ok(readers.every((store) => !store.isOpen), 'the read-only stores are closed')
  assert.ok(written.isOpen, 'the written store stays open')
  // The same object comes back, reads again (read-only) and is counted in again.
  const again = actors.get(dids[1] as string)
  assert.equal(again, readers[1])
  assert.equal(again?.head()?.cid.$link, heads[1])
  assert.ok(again?.isOpen && again.readDb.readonly)
  assert.equal(actors.openCount, 2)
  // A write on another closed one reopens it read-write and lands.
  const store = actors.get(dids[2] as string, { forWrite: true }) as ActorStore
  assert.equal(store, readers[2])
  const write = prepareWrite(postWrite(2))
  const committed = commitWrites(store, sequencer, { writes: [write] })
  assert.equal(store.head()?.rev, committed.commit.rev)
  assert.equal(actors.openCount, 3)
})
