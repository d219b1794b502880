// `node --import tsx bench/profile/write-floor.ts [requests] [rounds] [official]`: how close a
// createRecord can get to 10x the official's CPU, and what stands between. The servers take turns
// in rounds of `requests` sequential createRecords of a post over one keep-alive connection
// (as the bench's settled row sends them), after WARM (default 3,000) each:
//   bare      write-floor-bare.ts: the durable work of a commit on the official schema (its
//             blocks, one signature, the store's transaction, the log's insert) and no more;
//   floor     write-floor-server.ts: a bare node:http server around Hearth's commit alone (no
//             router, auth, session or account check, input validation, metrics);
//   Hearth    this tree's dist/hearth.mjs, as `npm start` runs it (build it first);
//   official  the official 0.5.35 (with the `official` argument).
// Both are bundled from this tree as scripts/build.mjs bundles the server, and run with the same
// node flags and allocator settings (their shared HTTP: floor-http.ts). Prints the server CPU per request
// (/proc/<pid>/stat) of each round and the medians, and the official's median over each.
// HEARTH_TREES=<tree>,<tree>: Hearth from each of these built checkouts instead of this one (a
// change to the request path beside the tree before it, the floor as the yardstick).
// PERF_DIR=<dir>: the floor and Hearth run with --perf-basic-prof-only-functions, and round 0 of
// each is recorded by `perf record -g` into <dir>/<name>.data (the official is not recorded).
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { actorMigrations } from '../../src/actor/db.ts'
import { sequencerMigrations } from '../../src/sequencer/db.ts'
import { type MigrationSet, openDb } from '../../src/storage/sqlite.ts'
import { SERVER_BUNDLE_OPTIONS } from '../../scripts/bundle-options.mjs'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient, type XrpcClient } from '../server/client.ts'
import { BENCH_SECRETS, freePort, readCpuMs, startHearthTree, startOfficialProcess } from '../server/processes.ts'

const N = Number(process.argv[2] ?? 2000)
const ROUNDS = Number(process.argv[3] ?? 6)
const withOfficial = process.argv.includes('official')
const WARM = Number(process.env.WARM ?? 3000)
const root = fileURLToPath(new URL('../..', import.meta.url))
const PERF_DIR = process.env.PERF_DIR || null
const perfFlags = PERF_DIR ? ['--perf-basic-prof-only-functions'] : []

interface Side {
  name: string
  pid: number
  client: XrpcClient
  did: string
  token?: string
  cpu: number[]
  stop(): Promise<void>
}

const tmp = mkdtempSync(join(tmpdir(), 'hearth-write-floor-'))
// Inside the tree, so that the bundles' imports of packages resolve from its node_modules.
const bundles = join(root, 'node_modules/.cache/hearth-write-floor')
await build({
  entryPoints: { floor: join(root, 'bench/profile/write-floor-server.ts'), bare: join(root, 'bench/profile/write-floor-bare.ts') },
  outdir: bundles,
  outExtension: { '.js': '.mjs' },
  ...SERVER_BUNDLE_OPTIONS,
})

/** A database made with the official migrations alone, none of Hearth's additions. */
function officialSchema(path: string, set: MigrationSet): void {
  const db = openDb(path)
  for (const m of set.official) m.up(db)
  db.close()
}

const FLOOR_DID = 'did:plc:writefloor00000000000000'

/** One of the floor servers (its bundle `name`.mjs), on a data folder `prepare` may fill first. */
async function startFloor(name: 'floor' | 'bare', prepare?: (data: string) => void): Promise<Side> {
  const port = await freePort()
  const data = join(tmp, `${name}-data`)
  mkdirSync(data)
  prepare?.(data)
  const script = join(bundles, `${name}.mjs`)
  const child = spawn(process.execPath, ['--max-semi-space-size=2', ...perfFlags, '--require', join(root, 'bin/threadpool.cjs'), script, String(port), data, FLOOR_DID], {
    cwd: root,
    env: { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const [ready] = await Promise.race([once(child, 'message'), once(child, 'exit')])
  if (ready !== 'ready') throw new Error(`the ${name} server exited before it listened (${ready})`)
  return {
    name,
    pid: child.pid as number,
    client: xrpcClient(`http://127.0.0.1:${port}`),
    did: FLOOR_DID,
    cpu: [],
    stop: async () => {
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

async function startServer(name: string, p: { url: string; pid: number; stop(): Promise<void> }): Promise<Side> {
  const client = xrpcClient(p.url)
  const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: `floor-${name}.pds.bench.test`, email: `floor-${name}@bench.test`, password: 'password-floor' },
  })) as { did: string; accessJwt: string }
  return { name, pid: p.pid, client, did: acct.did, token: acct.accessJwt, cpu: [], stop: p.stop }
}

let k = 0
async function requests(s: Side, n: number): Promise<void> {
  for (let i = 0; i < n; i++, k++) {
    const record = { $type: 'app.bsky.feed.post', text: `floor post ${k}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date().toISOString() }
    await s.client.call('POST', 'com.atproto.repo.createRecord', { token: s.token, json: { repo: s.did, collection: 'app.bsky.feed.post', record } })
  }
}

const plc = await startReferencePlc()
const sides: Side[] = []
try {
  sides.push(
    await startFloor('bare', (data) => {
      officialSchema(join(data, 'store.sqlite'), actorMigrations)
      officialSchema(join(data, 'sequencer.sqlite'), sequencerMigrations)
    }),
  )
  sides.push(await startFloor('floor'))
  const trees = process.env.HEARTH_TREES ? process.env.HEARTH_TREES.split(',') : [root]
  for (const [i, tree] of trees.entries()) {
    const name = trees.length === 1 ? 'hearth' : `hearth${String.fromCharCode(65 + i)}`
    sides.push(await startServer(name, await startHearthTree(tree, plc.url, { nodeArgs: perfFlags })))
  }
  if (withOfficial) sides.push(await startServer('official', await startOfficialProcess(plc.url, BENCH_SECRETS, {}, '0.5.35')))
  for (const s of sides) await requests(s, s.name === 'official' ? Math.min(WARM, 1000) : WARM)
  for (let r = 0; r < ROUNDS; r++) {
    // The order turns each round, so that none always runs first after another's load.
    const order = sides.map((_, i) => sides[(i + r) % sides.length] as Side)
    for (const s of order) {
      const n = s.name === 'official' ? Math.max(100, Math.round(N / 8)) : N
      const perf = PERF_DIR && r === 0 && s.name !== 'official' ? spawn('perf', ['record', '-g', '-F', '999', '-o', join(PERF_DIR, `${s.name}.data`), '-p', String(s.pid)], { stdio: 'ignore' }) : null
      if (perf) await new Promise((res) => setTimeout(res, 500))
      const c0 = readCpuMs(s.pid) as number
      const t0 = performance.now()
      await requests(s, n)
      const ms = performance.now() - t0
      const per = ((readCpuMs(s.pid) as number) - c0) / n
      if (perf) {
        perf.kill('SIGINT')
        await once(perf, 'exit')
      }
      s.cpu.push(per)
      console.log(`round ${r} ${s.name.padEnd(8)} ${n} createRecords, ${((n * 1000) / ms).toFixed(0)}/s, server CPU ${per.toFixed(3)} ms per request`)
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const official = sides.find((s) => s.name === 'official')
  for (const s of sides) {
    const m = median(s.cpu)
    const ratio = official && s !== official ? `, ${(median(official.cpu) / m).toFixed(2)}x the official's` : ''
    console.log(`${s.name.padEnd(8)} median ${m.toFixed(3)} ms (rounds ${s.cpu.map((x) => x.toFixed(3)).join(' ')})${ratio}`)
  }
} finally {
  for (const s of sides) {
    s.client.close()
    await s.stop()
  }
  await plc.close()
  rmSync(tmp, { recursive: true, force: true })
}
