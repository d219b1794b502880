// `node --import tsx bench/profile/commit.ts [total|steps] [commits] [rounds]`: the write path in
// process, without HTTP: commits of a post through commitPrepared (as the createRecord handler
// makes them, awaiting what it awaits) on fresh stores in a temporary directory, with the CPU per
// commit from process.cpuUsage() in rounds after 500 commits of warm-up.
//   total  ACCOUNTS=n (default 1): each turn commits on every account, then awaits them all, as
//          concurrent requests read in one poll phase do (ACCOUNTS=8: the 8-client row's case).
//   steps  one account, the commit split into its steps (prepare, buildCommit, the event's
//          encoding, the store's transaction, the event log's append, the account table), timed
//          by process.cpuUsage() around each: the steps of actor/transactor.ts run one by one.
// HEARTH_TREE names another checkout to load the code from (before/after in alternating runs).
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const mode = process.argv[2] ?? 'total'
const N = Number(process.argv[3] ?? 2000)
const R = Number(process.argv[4] ?? 3)
const A = mode === 'steps' ? 1 : Number(process.env.ACCOUNTS ?? 1)
const { load, dir, accounts, sequencer, actors, services: s } = await commitHost(ROOT, 'hearth-commit-')
const { initRepo } = await load('src/actor/transactor.ts')
const { prepareCreate, toCommitWrite } = await load('src/actor/prepare.ts')
const { commitPrepared } = await load('src/actions/commit.ts')
const { buildCommit } = await load('src/repo/commit-builder.ts')
const { commitEvent } = await load('src/sequencer/events.ts')
const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')
const repos: Array<{ did: string; store: any }> = []
for (let a = 0; a < A; a++) {
  const did = `did:plc:benchcommit${String(a).padStart(13, '0')}`
  const store = actors.create(did, await Secp256k1Keypair.create({ exportable: true }))
  const first = initRepo(store)
  accounts.updateRepoRoot(did, first.cid.$link, first.rev)
  repos.push({ did, store })
}
let k = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() })

function commitOne(did: string, store: any): Promise<void> {
  const r = commitPrepared(s, did, store, [prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() })])
  return r.settled ?? r.blobsSettled
}
const turn = () => Promise.all(repos.map((x) => commitOne(x.did, x.store)))

const STEPS = ['prepare', 'buildCommit', 'event encoding', 'store transaction', 'event log append', 'account table']
const stepCpu = STEPS.map(() => 0)
function stepsOne(measure: boolean): void {
  const { did, store } = repos[0] as (typeof repos)[0]
  const t: number[] = []
  const mark = () => {
    const u = process.cpuUsage()
    t.push(u.user + u.system)
  }
  mark()
  const w = prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() })
  mark()
  const head = store.head()
  const commit = buildCommit({ did, commitCid: head.cid, rev: head.rev }, store.tree(), [toCommitWrite(w)], store.keypair())
  mark()
  const events = [commitEvent(commit)]
  mark()
  const ops = [{ action: 'create', collection: w.collection, rkey: w.rkey, cid: w.cid, backlinks: w.backlinks }]
  store.applyCommit(commit, ops, events, () => store.blobs.processWriteBlobs([{ action: 'create', uri: w.uri, blobs: w.blobs }]))
  mark()
  sequencer.append(events)
  store.sequencedRev = commit.rev
  mark()
  accounts.updateRepoRoot(did, commit.cid.$link, commit.rev)
  mark()
  if (measure) for (let i = 0; i < STEPS.length; i++) stepCpu[i] += (t[i + 1] as number) - (t[i] as number)
}

try {
  if (mode === 'steps') {
    for (let i = 0; i < 500; i++) stepsOne(false)
    for (let i = 0; i < N; i++) stepsOne(true)
    const total = stepCpu.reduce((a, b) => a + b, 0)
    for (let i = 0; i < STEPS.length; i++) console.log(`${(STEPS[i] as string).padEnd(18)} ${((stepCpu[i] as number) / N).toFixed(1).padStart(6)} µs`)
    console.log(`${'total'.padEnd(18)} ${(total / N).toFixed(1).padStart(6)} µs per commit (${N} commits)`)
  } else {
    for (let i = 0; i < Math.ceil(500 / A); i++) await turn()
    for (let r = 0; r < R; r++) {
      const u0 = process.cpuUsage()
      for (let i = 0; i < N / A; i++) await turn()
      const u = process.cpuUsage(u0)
      console.log(`round ${r}: ${N} commits on ${A} account(s), CPU ${((u.user + u.system) / N / 1000).toFixed(3)} ms per commit (user ${(u.user / N / 1000).toFixed(3)}, system ${(u.system / N / 1000).toFixed(3)})`)
    }
  }
} finally {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
}
