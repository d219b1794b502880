// `node --import tsx bench/profile/list-json.ts [listings] [rounds]`: listRecords' answer in
// process, without HTTP: listRecordsJson of the newest 100 of 1,000 posts, the same page each
// time (the bench's row), so every record comes from the JSON cache, with the CPU per listing
// from process.cpuUsage() in rounds after 3,000 listings of warm-up. HEARTH_TREE names another
// checkout to load the code from (before/after in alternating runs).
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const N = Number(process.argv[2] ?? 5000)
const R = Number(process.argv[3] ?? 5)
const { load, dir, actors, sequencer } = await commitHost(ROOT, 'hearth-list-json-')
const { listRecordsJson, RecordJsonCache } = await load('src/actor/record-listing.ts')
const { commitWrites, initRepo } = await load('src/actor/transactor.ts')
const { prepareWrite } = await load('src/repo/commit-builder.ts')
const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')
const did = 'did:plc:benchlistjson0000000000'
const collection = 'app.bsky.feed.post'
try {
  const store = actors.create(did, await Secp256k1Keypair.create({ exportable: true }))
  initRepo(store)
  for (let batch = 0; batch < 10; batch++) {
    const writes = Array.from({ length: 100 }, (_, i) => {
      const n = batch * 100 + i
      const record = { $type: collection, text: `post ${n}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + n * 1000).toISOString() }
      return prepareWrite({ action: 'create', collection, rkey: `3k${(500000 + n).toString(36)}aaaa`, record })
    })
    commitWrites(store, sequencer, { writes })
  }
  const cache = new RecordJsonCache(4 * 1024 * 1024)
  const list = () => listRecordsJson(store.db, collection, { limit: 100 }, cache)
  for (let i = 0; i < 3000; i++) list()
  for (let r = 0; r < R; r++) {
    const u0 = process.cpuUsage()
    for (let i = 0; i < N; i++) list()
    const u = process.cpuUsage(u0)
    console.log(`round ${r}: ${N} listings of 100, CPU ${((u.user + u.system) / N).toFixed(1)} µs per listing`)
  }
} finally {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
}
