// `node --import tsx bench/profile/page-size.ts [commits] [rounds] [warm]`: what the SQLite page size
// of the write path's databases does to a commit, in process (no HTTP). On fresh databases in a
// temporary folder (an account table, the event log, one actor store, made by the tree's own code:
// HEARTH_TREE names another checkout, e.g. a scratch copy creating its databases with another page
// size), commits `warm` posts through commitPrepared (default 3,000: a settled store), then rounds
// of `commits`, each with:
//   - the CPU per commit from process.cpuUsage() (user and system apart);
//   - per database the WAL frames written per commit (the WAL-index header's mxFrame, read after
//     every commit, as write-threads.ts does, counting the frames of a WAL reset by a checkpoint)
//     and so the WAL bytes (frames × (page size + 24));
//   - the bytes the process wrote through system calls per commit (/proc/self/io `wchar`: WAL
//     frames and checkpoints);
//   - the CPU per read of the store: a record by rkey (getRecord's lookup), a page of 100 records
//     (listRecords'), a block by CID (what getRepo does for every block), and the whole event
//     log read from seq 0 in pages of 1,000 (a firehose backfill's reads), per event.
// Then, per database, its page size and each B-tree's depth and pages (SQLite's dbstat), with the
// overflow pages, and the size distribution of repo_block.content and repo_seq.event.
import { closeSync, openSync, readFileSync, readSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { walState } from '../../test/helpers/wal-state.ts'
import { commitHost } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const N = Number(process.argv[2] ?? 2000)
const R = Number(process.argv[3] ?? 3)
const WARM = Number(process.argv[4] ?? 3000)
const READS = 5000
const { load, dir, accounts, sequencer, actors, services: s } = await commitHost(ROOT, 'hearth-page-size-')
const { initRepo } = await load('src/actor/transactor.ts')
const { prepareCreate } = await load('src/actor/prepare.ts')
const { commitPrepared } = await load('src/actions/commit.ts')
const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')
const { openDb } = await load('src/storage/sqlite.ts')

const did = 'did:plc:benchpagesize00000000'
const store = actors.create(did, await Secp256k1Keypair.create({ exportable: true }))
const first = initRepo(store)
accounts.updateRepoRoot(did, first.cid.$link, first.rev)
const rkeys: string[] = []
let k = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() })
async function commitOne(): Promise<void> {
  const w = prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() })
  rkeys.push(w.rkey)
  const r = commitPrepared(s, did, store, [w])
  await (r.settled ?? r.blobsSettled)
}

const dbs: Record<string, string> = {
  'store.sqlite': store.dbPath as string,
  'sequencer.sqlite': join(dir, 'sequencer.sqlite'),
  'account.sqlite': join(dir, 'account.sqlite'),
}
const pageSize = (path: string) => {
  const b = Buffer.alloc(2)
  const fd = openSync(path, 'r')
  readSync(fd, b, 0, 2, 16)
  closeSync(fd)
  const v = b.readUInt16BE(0)
  return v === 1 ? 65536 : v
}
const wchar = () => Number(/^wchar: (\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN)
const us = (u: NodeJS.CpuUsage, n: number) => `${((u.user + u.system) / n).toFixed(1)} µs (user ${(u.user / n).toFixed(1)}, system ${(u.system / n).toFixed(1)})`

function quantiles(values: number[]): string {
  const v = [...values].sort((a, b) => a - b)
  const q = (p: number) => v[Math.min(v.length - 1, Math.floor(p * v.length))]
  return `n ${v.length}, p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${v[v.length - 1]} bytes`
}

try {
  for (let i = 0; i < WARM; i++) await commitOne()
  for (const [n, p] of Object.entries(dbs)) console.log(`${n}: page size ${pageSize(p)}`)
  for (let r = 0; r < R; r++) {
    const frames: Record<string, number> = {}
    const last: Record<string, { frames: number; restarts: number }> = {}
    for (const [n, p] of Object.entries(dbs)) {
      last[n] = walState(p)
      frames[n] = 0
    }
    let cpu = { user: 0, system: 0 }
    const w0 = wchar()
    for (let i = 0; i < N; i++) {
      const u0 = process.cpuUsage()
      await commitOne()
      const u = process.cpuUsage(u0)
      cpu = { user: cpu.user + u.user, system: cpu.system + u.system }
      for (const [n, p] of Object.entries(dbs)) {
        const st = walState(p)
        const prev = last[n] as { frames: number; restarts: number }
        frames[n] = (frames[n] as number) + (st.restarts !== prev.restarts ? st.frames : st.frames - prev.frames)
        last[n] = st
      }
    }
    const written = (wchar() - w0) / N
    console.log(`round ${r}: commit ${us(cpu, N)}; written ${(written / 1024).toFixed(1)} KiB per commit`)
    console.log(
      `  WAL per commit: ${Object.entries(dbs)
        .map(([n, p]) => `${n} ${((frames[n] as number) / N).toFixed(1)} frames, ${((((frames[n] as number) / N) * (pageSize(p) + 24)) / 1024).toFixed(1)} KiB`)
        .join('; ')}`,
    )
    const pick = (i: number) => rkeys[(i * 7919) % rkeys.length] as string
    let u0 = process.cpuUsage()
    for (let i = 0; i < READS; i++) store.getRecord('app.bsky.feed.post', pick(i + r * READS))
    const get = process.cpuUsage(u0)
    u0 = process.cpuUsage()
    for (let i = 0; i < READS / 50; i++) store.listRecords('app.bsky.feed.post', { limit: 100, cursor: pick(i) })
    const list = process.cpuUsage(u0)
    const cids = (store.db.prepare('SELECT "cid" FROM "repo_block"').pluck().all() as string[]).sort(() => Math.random() - 0.5).slice(0, READS)
    const { parseCid } = await load('src/repo/cid.ts')
    const parsed = cids.map((c) => parseCid(c))
    u0 = process.cpuUsage()
    for (const c of parsed) store.getBlock(c)
    const block = process.cpuUsage(u0)
    u0 = process.cpuUsage()
    let events = 0
    for (let after = 0, rows = sequencer.range(0, 1000); rows.length > 0; rows = sequencer.range(after, 1000)) {
      events += rows.length
      after = rows[rows.length - 1].seq
    }
    const log = process.cpuUsage(u0)
    console.log(
      `  reads: getRecord ${us(get, READS)}; listRecords 100 ${us(list, READS / 50)}; block by CID ${us(block, parsed.length)}; ` +
        `the log from seq 0 (a backfill) ${us(log, events)} per event`,
    )
  }
  for (const [n, p] of Object.entries(dbs)) {
    const db = openDb(p, { readonly: true })
    try {
      const rows = db
        .prepare(
          `SELECT "name", count(*) AS pages, sum("pagetype" = 'overflow') AS overflow,
             max(length("path") - length(replace("path", '/', ''))) AS depth
           FROM dbstat GROUP BY "name" HAVING pages > 2 ORDER BY pages DESC`,
        )
        .all() as Array<{ name: string; pages: number; overflow: number; depth: number }>
      console.log(`${n} (page size ${pageSize(p)}): ${rows.map((x) => `${x.name} ${x.pages} pages (${x.overflow} overflow), depth ${x.depth}`).join('; ')}`)
    } finally {
      db.close()
    }
  }
  console.log(`repo_block.content: ${quantiles(store.db.prepare('SELECT length("content") FROM "repo_block"').pluck().all() as number[])}`)
  console.log(`repo_seq.event: ${quantiles(sequencer.db.prepare('SELECT length("event") FROM "repo_seq"').pluck().all() as number[])}`)
} finally {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
}
