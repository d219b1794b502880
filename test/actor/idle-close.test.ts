// Stores unused for a while are closed by a timer, one per turn of the event loop.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { ActorStoreManager } from '../../src/actor/manager.ts'
import { initRepo } from '../../src/actor/transactor.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Sequencer } from '../../src/sequencer/sequencer.ts'

const dirs: string[] = []
const closers: Array<() => void> = []
after(() => {
  for (const c of closers.reverse()) c()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

test('idle close: stores unused past the idle time are closed one per event-loop turn, not all in one; a later use reopens them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-idle-'))
  dirs.push(dir)
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  closers.push(() => sequencer.db.open && sequencer.close())
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer, 100, { idleCloseMs: 80 })
  closers.push(() => actors.closeAll())
  const dids = Array.from({ length: 8 }, (_, i) => `did:plc:idleclosetest${String(i).padStart(11, '0')}`)
  // Written stores: closing each checkpoints it.
  const stores = dids.map((did) => actors.create(did, Secp256k1Keypair.create()))
  for (const s of stores) initRepo(s)
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
  assert.equal(actors.get(dids[3] as string)?.head()?.cid.$link, stores[3]?.head()?.cid.$link)
  assert.equal(actors.openCount, 1)
})
