// `node --expose-gc --import tsx bench/profile/store-memory.ts [accounts] [records]`: the memory
// open actor stores keep, in process. Builds `accounts` repos of `records` posts each through the
// write path (commits of 10 creates, as applyWrites makes them), then reports the heap kept per
// open store after GC in three states: after the writes; after a restart (a new manager) with every
// store opened and 20 reads of its MST; and after one more write on each. Also each
// state's decoded MST node count where the tree exposes it.
// HEARTH_TREE names another checkout to load the code from (before/after in alternating runs).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const A = Number(process.argv[2] ?? 200)
const R = Number(process.argv[3] ?? 300)
const load = (p: string) => import(join(ROOT, p))
const { ActorStoreManager } = await load('src/actor/manager.ts')
const { Sequencer } = await load('src/sequencer/sequencer.ts')
const { initRepo, commitWrites } = await load('src/actor/transactor.ts')
const { prepareCreate, toCommitWrite } = await load('src/actor/prepare.ts')
const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
const heap = () => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const dir = mkdtempSync(join(tmpdir(), 'hearth-store-memory-'))
const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
let k = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() })
const dids = Array.from({ length: A }, (_, a) => `did:plc:benchmemory${String(a).padStart(13, '0')}`)
const keys = new Map<string, string[]>()

function writeOne(store: any, did: string, n: number): void {
  const writes = Array.from({ length: n }, () => prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() }))
  for (const w of writes) keys.get(did)?.push(`${w.collection}/${w.rkey}`)
  commitWrites(store, sequencer, { writes: writes.map(toCommitWrite), swapCommit: null })
}

function report(label: string, base: number, actors: any): void {
  const kept = heap() - base
  const cached = actors.nodeCache ? `, ${actors.nodeCache.size} nodes in the shared cache` : ''
  console.log(`${label.padEnd(30)} heap ${(kept / 1e6).toFixed(1).padStart(6)} MB for ${actors.openCount} stores: ${(kept / A / 1024).toFixed(1).padStart(6)} KB per store${cached}`)
}

/** The same with the shared node cache emptied: what the stores keep besides decoded nodes. */
function reportWithoutNodes(label: string, base: number, actors: any): void {
  if (!actors.nodeCache) return
  actors.nodeCache.clear()
  report(label, base, actors)
}

try {
  const base0 = heap()
  let actors = new ActorStoreManager(join(dir, 'actors'), sequencer, A + 10)
  const w0 = process.cpuUsage()
  for (const did of dids) {
    keys.set(did, [])
    const store = actors.create(did, await Secp256k1Keypair.create({ exportable: true }))
    initRepo(store)
    for (let i = 0; i < R / 10; i++) writeOne(store, did, 10)
  }
  const w = process.cpuUsage(w0)
  console.log(`writing: ${((w.user + w.system) / ((A * R) / 10 + A) / 1000).toFixed(3)} ms CPU per commit (key creation and initRepo included)`)
  report('after the writes', base0, actors)
  reportWithoutNodes('  (node cache emptied)', base0, actors)
  actors.closeAll()
  const base1 = heap()
  actors = new ActorStoreManager(join(dir, 'actors'), sequencer, A + 10)
  let x = 1
  for (const did of dids) {
    const store = actors.get(did)
    const ks = keys.get(did) as string[]
    for (let i = 0; i < 20; i++) store.tree().get(ks[(x = (x * 48271) % 2147483647) % ks.length])
    store.getRecord('app.bsky.feed.post', (ks[0] as string).split('/')[1])
  }
  report('restarted, 20 MST reads each', base1, actors)
  const u0 = process.cpuUsage()
  for (const did of dids) writeOne(actors.get(did), did, 1)
  const u = process.cpuUsage(u0)
  report('then one write each', base1, actors)
  reportWithoutNodes('  (node cache emptied)', base1, actors)
  console.log(`first write after the reads: ${((u.user + u.system) / A / 1000).toFixed(3)} ms CPU per commit`)
  actors.closeAll()
} finally {
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
}
