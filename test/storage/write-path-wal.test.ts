// The databases every commit writes (an actor store, the event log) checkpoint their WAL at
// WRITE_PATH_WAL_PAGES rather than SQLite's 1,000 pages: a checkpoint (two syncs and the page
// copies) in a quarter as many commits, and the WAL still bounded by it.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'
import { walState } from '../helpers/wal-state.ts'
import { EARLY_CHECKPOINT_PAGES, openDb, WalSyncAhead, WRITE_PATH_WAL_PAGES } from '../../src/storage/sqlite.ts'

/** An actor store with its first commit beside an event log, in a new folder. */
function writeHost(prefix: string, did: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const seqPath = join(dir, 'sequencer.sqlite')
  const sequencer = new Sequencer(seqPath)
  const manager = new ActorStoreManager(join(dir, 'actors'), sequencer, 10)
  const store = manager.create(did, Secp256k1Keypair.create())
  initRepo(store)
  return {
    seqPath,
    sequencer,
    store,
    close() {
      manager.closeAll()
      sequencer.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

test('an actor store and the event log keep more than 1,000 WAL pages before a checkpoint, and no more than WRITE_PATH_WAL_PAGES and a commit', () => {
  assert.ok(WRITE_PATH_WAL_PAGES > 1000)
  const { seqPath, sequencer, store, close } = writeHost('hearth-wal-pages-', 'did:plc:walpagestest0000000000')
  try {
    const storePath = store.dbPath
    const start = { store: walState(storePath), log: walState(seqPath) }
    const maxFrames = { store: 0, log: 0 }
    const passedDefault = { store: false, log: false }
    const restarts = { store: 0, log: 0 }
    for (let i = 0; i < 700; i++) {
      const record = { $type: 'app.bsky.feed.post', text: `post ${i} ${'x'.repeat(400)}`, createdAt: new Date(1.7e12 + i * 1000).toISOString() }
      commitWrites(store, sequencer, { writes: [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: `post${String(i).padStart(6, '0')}`, record })] })
      sequencer.flushQueued()
      for (const [name, path] of [['store', storePath], ['log', seqPath]] as const) {
        const s = walState(path)
        maxFrames[name] = Math.max(maxFrames[name], s.frames)
        if (s.frames > 1200 && s.restarts === start[name].restarts) passedDefault[name] = true
        restarts[name] = s.restarts - start[name].restarts
      }
    }
    for (const name of ['store', 'log'] as const) {
      assert.ok(passedDefault[name], `${name}: the WAL passed 1,200 pages without a checkpoint (one commit adds at most a few dozen)`)
      assert.ok(restarts[name] >= 1, `${name}: the WAL was checkpointed and started again (${restarts[name]} times)`)
      assert.ok(maxFrames[name] < WRITE_PATH_WAL_PAGES + 200, `${name}: at most ${maxFrames[name]} frames`)
    }
    assert.ok(statSync(`${storePath}-wal`).size < (WRITE_PATH_WAL_PAGES + 200) * (4096 + 24))
  } finally {
    close()
  }
})

test('a served store and the event log checkpoint after their WAL is synced off the event loop, before SQLite would inside a commit', async () => {
  assert.ok(EARLY_CHECKPOINT_PAGES < WRITE_PATH_WAL_PAGES - 300)
  const { seqPath, sequencer, store, close } = writeHost('hearth-wal-ahead-', 'did:plc:walaheadtest00000000000')
  try {
    const storePath = store.dbPath
    const paths = { store: storePath, log: seqPath }
    const start = { store: walState(storePath), log: walState(seqPath) }
    // The largest WAL each had before each time it started again.
    const peaks = { store: [] as number[], log: [] as number[] }
    const last = { store: start.store, log: start.log }
    for (let i = 0; i < 1300; i++) {
      const record = { $type: 'app.bsky.feed.post', text: `post ${i} ${'x'.repeat(400)}`, createdAt: new Date(1.7e12 + i * 1000).toISOString() }
      commitWrites(store, sequencer, { writes: [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: `post${String(i).padStart(6, '0')}`, record })] })
      sequencer.flushQueued()
      // A served process turns its event loop between requests, and its syncs come back in time
      // on a disk that keeps up (on one that does not, SQLite's own checkpoint stays the bound).
      await Promise.all([store.walSync.idle(), sequencer.walSync.idle()])
      for (const name of ['store', 'log'] as const) {
        const s = walState(paths[name])
        if (s.restarts !== last[name].restarts) peaks[name].push(last[name].frames)
        last[name] = s
      }
    }
    for (const name of ['store', 'log'] as const) {
      assert.ok(peaks[name].length >= 1, `${name}: the WAL started again (${peaks[name].length} times)`)
      for (const peak of peaks[name]) {
        assert.ok(peak >= EARLY_CHECKPOINT_PAGES - 100 && peak < WRITE_PATH_WAL_PAGES, `${name}: checkpointed at ${peak} frames, ahead of SQLite's ${WRITE_PATH_WAL_PAGES}`)
      }
    }
  } finally {
    close()
  }
})

test('WalSyncAhead: a connection closed while the WAL is being synced is left alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-wal-ahead-close-'))
  const path = join(dir, 'db.sqlite')
  const db = openDb(path, { walAutocheckpointPages: WRITE_PATH_WAL_PAGES })
  let errors = 0
  const onError = () => errors++
  process.on('unhandledRejection', onError)
  try {
    db.exec('CREATE TABLE t ("k" INTEGER PRIMARY KEY, "v" BLOB)')
    const put = db.prepare('INSERT INTO t ("v") VALUES (?)')
    const ahead = new WalSyncAhead(() => (db.open ? db : null), `${path}-wal`, 1)
    // Each row ~4 KB: a frame or two a commit, past the early mark without SQLite's checkpoint.
    let i = 0
    while (walState(path).frames < EARLY_CHECKPOINT_PAGES) {
      put.run(Buffer.alloc(4000, i++ & 0xff))
      ahead.committed()
    }
    put.run(Buffer.alloc(4000, 1))
    ahead.committed() // the look that starts the sync
    db.close()
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(errors, 0)
  } finally {
    process.off('unhandledRejection', onError)
    if (db.open) db.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('WalSyncAhead: while a reader holds the WAL, the sync is tried again only as the WAL grows, not at every look', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-wal-ahead-reader-'))
  const path = join(dir, 'db.sqlite')
  const db = openDb(path, { walAutocheckpointPages: 0 })
  const reader = openDb(path, { readonly: true })
  try {
    db.exec('CREATE TABLE t ("k" INTEGER PRIMARY KEY, "v" BLOB)')
    const put = db.prepare('INSERT INTO t ("v") VALUES (?)')
    put.run(Buffer.alloc(10))
    // A read transaction started now keeps every later frame in the WAL.
    reader.exec('BEGIN')
    reader.prepare('SELECT count(*) FROM t').get()
    const ahead = new WalSyncAhead(() => db, `${path}-wal`, 1)
    let i = 0
    while (walState(path).frames < EARLY_CHECKPOINT_PAGES + 2100) {
      put.run(Buffer.alloc(4000, i++ & 0xff))
      ahead.committed()
      // Each sync back before the next look, as on a disk that keeps up.
      await ahead.idle()
    }
    // At 4,000 frames, then at most once per further 1,000: three, where a sync at every look
    // would have made hundreds.
    assert.ok(ahead.syncs >= 2 && ahead.syncs <= 4, `${ahead.syncs} syncs`)
    // Once the reader lets go, the next checkpoint empties it, and the WAL starts again.
    reader.exec('COMMIT')
    const before = walState(path)
    for (let j = 0; j < 3000 && walState(path).restarts === before.restarts; j++) {
      put.run(Buffer.alloc(4000, j & 0xff))
      ahead.committed()
      await ahead.idle()
    }
    assert.notEqual(walState(path).restarts, before.restarts, 'the WAL started again')
  } finally {
    reader.close()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
