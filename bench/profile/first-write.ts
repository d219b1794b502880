// `node --import tsx bench/profile/first-write.ts [stores] [rounds]`: what the first commit on a
// store reopened as a restart reopens it (read-write, its tree's root and its key read) costs
// beyond a later one, in process. Makes `stores` accounts of one post each, then per round: a new
// manager on the same folder (the stores closed), each store reopened as reopenRecent does, one
// commit on each (the first), and one more on each (the second); CPU per store of each pass.
// READY=1 also prepares each store for a write at its reopen (readyForWrite), as reopenRecent does
// for a store listed as written before the stop (a tree without it is measured as it is).
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost, postingAccount } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const S = Number(process.argv[2] ?? 300)
const R = Number(process.argv[3] ?? 3)
const host = await commitHost(ROOT, 'hearth-first-write-')
const { load, dir, sequencer, services } = host
const { ActorStoreManager } = await load('src/actor/manager.ts')
const { prepareCreate } = await load('src/actor/prepare.ts')
const { commitPrepared } = await load('src/actions/commit.ts')
const dids: string[] = []
for (let i = 0; i < S; i++) {
  const did = `did:plc:firstwrite${String(i).padStart(14, '0')}`
  const a = await postingAccount(host, did)
  await a.commit(1)
  dids.push(did)
}
// Warm the code paths on the first stores.
for (let i = 0; i < 400; i++) {
  const did = dids[i % 20] as string
  await commitPrepared(services, did, host.actors.get(did, { forWrite: true }), [prepareCreate({ did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: `warm ${i}`, createdAt: new Date().toISOString() } })]).settled
}
host.actors.closeAll()
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
let k = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() })
for (let r = 0; r < R; r++) {
  const actors = new ActorStoreManager(`${dir}/actors`, sequencer, 2500)
  const s = { ...services, actors }
  let t = cpu()
  const stores = dids.map((did) => {
    const store = actors.get(did, { forWrite: true })
    store.tree()
    store.keypair()
    if (process.env.READY && typeof store.readyForWrite === 'function') store.readyForWrite()
    return store
  })
  const reopen = (cpu() - t) / S
  const pass = async () => {
    const t0 = cpu()
    for (const [i, did] of dids.entries()) await commitPrepared(s, did, stores[i], [prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() })]).settled
    return (cpu() - t0) / S
  }
  const first = await pass()
  const second = await pass()
  console.log(`round ${r}: reopen ${reopen.toFixed(3)} ms, first commit ${first.toFixed(3)} ms, second ${second.toFixed(3)} ms per store`)
  actors.closeAll()
}
