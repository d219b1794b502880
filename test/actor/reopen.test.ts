// The stores open at a clean stop are reopened in the background by the next start.
import assert from 'node:assert/strict'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ActorStoreManager, OPEN_LIST_FILE } from '../../src/actor/manager.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'

const dirs: string[] = []
const closers: Array<() => void> = []
after(() => {
  for (const c of closers.reverse()) c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function host(count: number) {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-reopen-'))
  dirs.push(dir)
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  closers.push(() => sequencer.db.open && sequencer.close())
  const dids = Array.from({ length: count }, (_, i) => `did:plc:reopentest${String(i).padStart(14, '0')}`)
  const first = manager(dir, sequencer, 100)
  for (const did of dids) initRepo(first.create(did, Secp256k1Keypair.create()))
  first.closeAll()
  return { dir, sequencer, dids }
}

/** A host whose every store was open when a serving manager (one that keeps the list) stopped. */
function listedHost(count: number, cacheSize = 100) {
  const h = host(count)
  const serving = manager(h.dir, h.sequencer, cacheSize)
  serving.reopenRecent()
  for (const did of h.dids) serving.get(did)
  serving.closeAll()
  return h
}

function manager(dir: string, sequencer: Sequencer, cacheSize: number): ActorStoreManager {
  const m = new ActorStoreManager(join(dir, 'actors'), sequencer, cacheSize)
  closers.push(() => m.closeAll())
  return m
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

test('reopen: a serving manager lists its open stores at close (least recently used first); the next reopens the most recent within its cache, off the call', async () => {
  const { dir, sequencer, dids } = host(5)
  const listPath = join(dir, 'actors', OPEN_LIST_FILE)
  // A manager that was not asked to reopen (a command, a test) leaves no list.
  assert.equal(existsSync(listPath), false)

  const serving = manager(dir, sequencer, 100)
  serving.reopenRecent()
  for (const i of [0, 1, 2, 3, 1]) assert.ok(serving.get(dids[i] as string))
  serving.closeAll()
  assert.equal(readFileSync(listPath, 'utf8'), `${[dids[0], dids[2], dids[3], dids[1]].join('\n')}\n`)

  const next = manager(dir, sequencer, 3)
  next.reopenRecent()
  assert.equal(next.openCount, 0, 'nothing is opened inside the call')
  assert.equal(existsSync(listPath), false, 'the list is read once')
  await until(() => next.openCount === 3)
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(next.openCount, 3, 'no more than the cache holds')
  // The three most recently used are the open ones: handing them out opens nothing more.
  for (const i of [1, 3, 2]) assert.equal(next.get(dids[i] as string)?.isOpen, true)
  assert.equal(next.openCount, 3)
  assert.equal(next.get(dids[0] as string)?.isOpen, true)
  assert.equal(next.openCount, 4, 'the least recent one was not reopened')

  // A reopened store also holds what a first write reads first: its signing key (gone from disk
  // here) is already loaded, where the store opened on demand still needs its key file.
  const write = () => ({ writes: [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: '3lreopentest2a', record: { $type: 'app.bsky.feed.post', text: 'after', createdAt: new Date().toISOString() } })] })
  for (const i of [1, 0]) rmSync(next.location(dids[i] as string).keyLocation)
  assert.ok(commitWrites(next.get(dids[1] as string)!, sequencer, write()).commit.rev)
  assert.throws(() => commitWrites(next.get(dids[0] as string)!, sequencer, write()), /ENOENT/)
})

test('reopen: a close before the reopening is done stops it, and keeps the stores not reached in the list', async () => {
  const { dir, sequencer, dids } = listedHost(6)
  const listPath = join(dir, 'actors', OPEN_LIST_FILE)

  const next = manager(dir, sequencer, 100)
  next.reopenRecent()
  // A request on the oldest account before the reopening starts.
  assert.ok(next.get(dids[0] as string))
  next.closeAll()
  await new Promise((r) => setTimeout(r, 30))
  assert.equal(next.openCount, 0, 'nothing reopened after the close')
  assert.equal(readFileSync(listPath, 'utf8'), `${[...dids.slice(1), dids[0]].join('\n')}\n`)

  // A listed account deleted since, and a line that is no DID, are passed over.
  const last = manager(dir, sequencer, 100)
  last.destroy(dids[5] as string)
  last.closeAll()
  appendFileSync(listPath, '../../etc\n')
  const again = manager(dir, sequencer, 100)
  again.reopenRecent()
  await until(() => again.openCount === 5)
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(again.openCount, 5)
  assert.equal(again.get(dids[5] as string), null)
})

test('reopen: a store that was ready to write at the stop is listed so, and comes back ready to write; one only read does not', async () => {
  const { dir, sequencer, dids } = host(3)
  const listPath = join(dir, 'actors', OPEN_LIST_FILE)
  const serving = manager(dir, sequencer, 100)
  serving.reopenRecent()
  const post = (rkey: string) => ({ writes: [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey, record: { $type: 'app.bsky.feed.post', text: rkey, createdAt: new Date().toISOString() } })] })
  // Read only, written, then read only again.
  assert.equal(serving.get(dids[0] as string)?.readyToWrite, false)
  assert.ok(commitWrites(serving.get(dids[1] as string, { forWrite: true })!, sequencer, post('3lreopenmark2a')).commit.rev)
  assert.equal(serving.get(dids[1] as string)?.readyToWrite, true)
  assert.equal(serving.get(dids[2] as string)?.readyToWrite, false)
  serving.closeAll()
  assert.equal(readFileSync(listPath, 'utf8'), `${dids[0]}\n${dids[1]} w\n${dids[2]}\n`)

  const next = manager(dir, sequencer, 100)
  next.reopenRecent()
  await until(() => next.openCount === 3)
  assert.deepEqual(
    dids.map((d) => next.get(d)?.readyToWrite),
    [false, true, false],
    'the written store has its commit prepared before any request; the others are as they were',
  )
  // Ready or not, each takes its write.
  for (const [i, did] of dids.entries()) assert.ok(commitWrites(next.get(did, { forWrite: true })!, sequencer, post(`3lreopenmark3${i}`)).commit.rev)

  // A close before the reopening reached a marked store keeps its mark.
  next.closeAll()
  assert.equal(readFileSync(listPath, 'utf8'), `${dids.map((d) => `${d} w`).join('\n')}\n`)
  const again = manager(dir, sequencer, 100)
  again.reopenRecent()
  again.closeAll()
  assert.equal(readFileSync(listPath, 'utf8'), `${dids.map((d) => `${d} w`).join('\n')}\n`)
})

test('reopen: with no request arriving, the reopening goes on to the end of the list', async () => {
  const { dir, sequencer } = listedHost(300, 400)

  const next = manager(dir, sequencer, 400)
  next.reopenRecent()
  // One timer and nothing else: no I/O wakes the event loop in between. A reopening that only
  // moved on when something woke the loop would still be at its start here, and would then take
  // its turns beside the first requests instead of before them.
  await new Promise((r) => setTimeout(r, 1500))
  assert.equal(next.openCount, 300)
})
