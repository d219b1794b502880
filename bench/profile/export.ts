// `node --import tsx bench/profile/export.ts [records] [exports]`: getRepo's CAR in process, without
// HTTP: one account with `records` posts (10,000 by default, written 100 to a commit through the
// write path) in a temporary directory, then `exports` whole-repo CARs streamed from a snapshot
// (repoCarStream, what the handler streams) after 5 of warm-up, in 5 rounds, with the CPU per
// export from process.cpuUsage(). HEARTH_TREE names another checkout to load the code from
// (before/after in alternating runs).
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const RECORDS = Number(process.argv[2] ?? 10_000)
const EXPORTS = Math.max(5, Number(process.argv[3] ?? 50))
const { load, dir, accounts, actors, sequencer, services: s } = await commitHost(ROOT, 'hearth-export-')
const { initRepo } = await load('src/actor/transactor.ts')
const { prepareCreate } = await load('src/actor/prepare.ts')
const { commitPrepared } = await load('src/actions/commit.ts')
const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')
const { repoCarStream } = await load('src/api/com/atproto/sync/getRepo.ts')
const did = 'did:plc:benchexport00000000000000'
try {
  const store = actors.create(did, await Secp256k1Keypair.create({ exportable: true }))
  const first = initRepo(store)
  accounts.updateRepoRoot(did, first.cid.$link, first.rev)
  let k = 0
  const post = () => ({
    $type: 'app.bsky.feed.post',
    text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`,
    createdAt: new Date(1.7e12 + k * 1000).toISOString(),
  })
  for (let i = 0; i < RECORDS; i += 100) {
    const writes = Array.from({ length: Math.min(100, RECORDS - i) }, () => prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() }))
    const r = commitPrepared(s, did, store, writes)
    await (r.settled ?? r.blobsSettled)
  }
  const once = async (): Promise<number> => {
    let bytes = 0
    for await (const chunk of repoCarStream(s, did)) bytes += (chunk as Uint8Array).length
    return bytes
  }
  for (let i = 0; i < 5; i++) await once()
  const perRound = Math.ceil(EXPORTS / 5)
  const rounds: string[] = []
  for (let r = 0; r < 5; r++) {
    const u0 = process.cpuUsage()
    for (let i = 0; i < perRound; i++) await once()
    const u = process.cpuUsage(u0)
    rounds.push(((u.user + u.system) / 1000 / perRound).toFixed(2))
  }
  console.log(`${RECORDS} records, ${((await once()) / 1e6).toFixed(2)} MB: ms of CPU per export, 5 rounds of ${perRound}: ${rounds.join(' ')}`)
} finally {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
}
