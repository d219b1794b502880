// A store opened for a read gets a read-only connection (closing it costs nothing: no checkpoint,
// no second connection to keep the WAL files); a write trades it for a read-write one.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ACTOR_SCHEMA_STAMP } from '../../src/actor/db.ts'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { postWrite } from '../helpers/actor-stores.ts'

const dirs: string[] = []
const closers: Array<() => void> = []
after(() => {
  for (const c of closers.reverse()) c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const DID = 'did:plc:readonlyopentest000000000'

const post = postWrite

/** A data folder with one account of three posts, every store closed. */
function host(cacheSize = 10) {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-ro-open-'))
  dirs.push(dir)
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  closers.push(() => sequencer.db.open && sequencer.close())
  const first = new ActorStoreManager(join(dir, 'actors'), sequencer, cacheSize)
  const store = first.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  for (let i = 0; i < 3; i++) commitWrites(store, sequencer, { writes: [prepareWrite(post(i))] })
  first.closeAll()
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, cacheSize)
  closers.push(() => actors.closeAll())
  return { dir, sequencer, actors, path: actors.location(DID).dbLocation }
}

test('read-only open: a read opens the store read-only; a write reopens it read-write and writes on; reads then see the write', () => {
  const { sequencer, actors, path } = host()
  const store = actors.get(DID)
  assert.ok(store)
  assert.ok(store.getRecord('app.bsky.feed.post', post(1).rkey))
  assert.equal(store.readDb.readonly, true)
  const before = store.head()?.rev
  const { commit } = commitWrites(store, sequencer, { writes: [prepareWrite(post(3))] })
  assert.equal(store.readDb.readonly, false, 'the write traded the connection for a read-write one')
  assert.equal(store.db, store.readDb, 'one connection per store, not two')
  assert.notEqual(commit.rev, before)
  assert.equal(store.head()?.rev, commit.rev)
  assert.ok(store.getRecord('app.bsky.feed.post', post(3).rkey))
  assert.equal(store.listRecords('app.bsky.feed.post', { limit: 10 }).length, 4)
  actors.closeAll()
  const raw = openDb(path, { readonly: true })
  assert.equal(raw.prepare('SELECT count(*) FROM record').pluck().get(), 4)
  assert.equal(raw.prepare('SELECT "rev" FROM repo_root').pluck().get(), commit.rev)
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok')
  raw.close()
})

test('read-only open: a caller about to write gets the read-write connection at once', () => {
  const { actors } = host()
  const store = actors.get(DID, { forWrite: true })
  assert.ok(store)
  assert.equal(store.readDb.readonly, false)
  // And a store already open read-only is traded when a writer asks for it.
  actors.closeAll()
  const again = actors.get(DID)
  assert.ok(again)
  assert.equal(again.readDb.readonly, true)
  assert.equal(actors.get(DID, { forWrite: true }), again)
  assert.equal(again.readDb.readonly, false)
})

test('read-only open: closing a store that was only read leaves its database file and WAL files as they were', async () => {
  const { actors, path } = host(1)
  const mtime = statSync(path).mtimeMs
  const wal = statSync(`${path}-wal`).size
  const store = actors.get(DID)
  assert.ok(store)
  assert.ok(store.getRecord('app.bsky.feed.post', post(0).rkey))
  // Another account's store pushes this one out of a cache of one.
  const other = actors.create('did:plc:readonlyopenother00000000', Secp256k1Keypair.create())
  initRepo(other)
  await new Promise((r) => setImmediate(r))
  assert.equal(store.isOpen, false)
  assert.ok(existsSync(`${path}-wal`) && existsSync(`${path}-shm`), 'the WAL files stay for the next open')
  assert.equal(statSync(`${path}-wal`).size, wal)
  assert.equal(statSync(path).mtimeMs, mtime)
  // Used again, it reopens (read-only) and counts in the cache again.
  assert.ok(store.getRecord('app.bsky.feed.post', post(2).rkey))
  assert.equal(store.isOpen, true)
  assert.equal(store.readDb.readonly, true)
})

test('read-only open: a store whose schema is behind opens read-write for its first read, and is brought up to date', () => {
  const { actors, path } = host()
  const raw = openDb(path)
  raw.pragma('user_version = 0')
  raw.close()
  const store = actors.get(DID)
  assert.ok(store)
  assert.ok(store.getRecord('app.bsky.feed.post', post(0).rkey))
  assert.equal(store.readDb.readonly, false)
  assert.equal(store.readDb.pragma('user_version', { simple: true }), ACTOR_SCHEMA_STAMP)
})
