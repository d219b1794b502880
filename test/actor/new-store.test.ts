// A new account's store is written from a migrated image: the same schema and migration rows as
// a store migrated in place, a WAL database from the start, and no schema pages in its WAL.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ACTOR_SCHEMA_STAMP, migrateActorDb } from '../../src/actor/db.ts'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { initRepo } from '../../src/actor/transactor.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { type Db, openDb } from '../../src/storage/sqlite.ts'

const dirs: string[] = []
const closers: Array<() => void> = []
after(() => {
  for (const c of closers.reverse()) c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function schema(db: Db): string[] {
  return (db.prepare(`SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS s FROM sqlite_master ORDER BY name`).all() as Array<{ s: string }>).map((r) => r.s)
}

function names(db: Db, table: string): string[] {
  return (db.prepare(`SELECT "name" FROM "${table}" ORDER BY "name"`).all() as Array<{ name: string }>).map((r) => r.name)
}

test('new store: the schema and migration rows of a store migrated in place, in WAL mode, with only its first commit in the WAL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-new-store-'))
  dirs.push(dir)
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  closers.push(() => sequencer.db.open && sequencer.close())
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, 10)
  closers.push(() => actors.closeAll())
  const did = 'did:plc:newstoretest0000000000000'
  const store = actors.create(did, Secp256k1Keypair.create())
  initRepo(store)
  const loc = actors.location(did)
  assert.equal(statSync(loc.dbLocation).mode & 0o777, 0o600)
  // The first commit is a few pages; migrating in place wrote ~130 KB of schema pages first.
  const wal = statSync(`${loc.dbLocation}-wal`).size
  assert.ok(wal < 40_000, `WAL after the first commit: ${wal} bytes`)

  const inPlace = openDb(join(dir, 'in-place.sqlite'))
  closers.push(() => inPlace.close())
  migrateActorDb(inPlace)
  const db = store.db
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  assert.equal(db.pragma('user_version', { simple: true }), ACTOR_SCHEMA_STAMP)
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
  assert.deepEqual(schema(db), schema(inPlace))
  assert.deepEqual(names(db, 'kysely_migration'), ['001'])
  assert.deepEqual(names(db, 'hearth_migration'), names(inPlace, 'hearth_migration'))
  assert.deepEqual(db.prepare('SELECT "id", "is_locked" FROM kysely_migration_lock').all(), [{ id: 'migration_lock', is_locked: 0 }])

  // A second account gets its own file, and creating over an existing store is refused.
  const other = actors.create('did:plc:newstoretest0000000000001', Secp256k1Keypair.create())
  initRepo(other)
  assert.notEqual(other.head()?.cid.$link, store.head()?.cid.$link)
  assert.throws(() => actors.create(did, Secp256k1Keypair.create()), /already exists/)
})
