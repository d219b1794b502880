// `npm run bench:scale`: how Hearth's costs grow with the number of accounts on a host. One data
// directory grows through the sizes in SCALE_SIZES (10, 100, 1,000, 10,000 accounts by default),
// each account with SCALE_RECORDS posts (100: a million records at 10,000 accounts). The accounts
// and records are written in process through the real write path (actor store creation,
// initRepo, commitWrites with its signed commits and event log, the account rows), not over HTTP:
// createAccount's scrypt hash alone would take ~10 minutes for 10,000 accounts, so every account
// shares one password hash computed once. After each size the server is started as a child
// process on that directory (as `npm start` runs it) and measured:
//   start-up: spawn to the first answer of describeServer (polled every 100 ms);
//   reopened at start: the stores the last server left open (its list), which the server opens
//     again in the background after the start (HEARTH_REOPEN_STORES): how many, and how long and
//     how much CPU until the server is idle after the warm-up below;
//   first touch: once the server is idle, one getRecord, then (another sample) one createRecord,
//     per account of a sample of up to SCALE_SAMPLE accounts the list did not name: every request
//     the first on its account, and none sharing the CPU with the background reopening;
//   hot: the same requests repeated on 10 accounts;
//   round robin: one getRecord on every account of the host in turn, twice (the second pass);
//   RSS and open descriptors (/proc/<pid>/fd) after start, and after the passes.
// Latencies are client-side p50; CPU is the server's (utime + stime from /proc/<pid>/stat) per
// request. The table goes to stdout, a JSON line last. SCALE_PERF=<path> records each size's
// first-touch getRecord pass with `perf record -g` into <path>-<accounts> (JavaScript frames named).
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OPEN_LIST_FILE, parseListed } from '../src/actor/manager.ts'
import { commitWrites, initRepo } from '../src/actor/transactor.ts'
import { hashPassword } from '../src/auth/password.ts'
import { loadConfig } from '../src/config/index.ts'
import { prepareWrite } from '../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../src/repo/crypto/index.ts'
import { createServices, type Services } from '../src/services.ts'
import { startReferencePlc } from '../test/identity/helpers.ts'
import { type XrpcClient, xrpcClient } from './server/client.ts'
import { BENCH_HOSTNAME, freePort, hearthEnv, type PdsSecrets, readCpuMs, spawnPds } from './server/processes.ts'
import { percentile } from './server/workload.ts'

const SIZES = (process.env.SCALE_SIZES ?? '10,100,1000,10000').split(',').map(Number)
const RECORDS = Number(process.env.SCALE_RECORDS ?? 100)
const SAMPLE = Number(process.env.SCALE_SAMPLE ?? 500)
/** Records per commit while generating (applyWrites' own limit is 200). */
const BATCH = 100
const HOSTNAME = BENCH_HOSTNAME
const COLLECTION = 'app.bsky.feed.post'

const log = (line: string) => process.stderr.write(`${line}\n`)

interface Account {
  did: string
  token: string
  rkey: string
}

interface SizeResult {
  accounts: number
  records: number
  generateS: number
  startupMs: number
  /** Stores named by the open list at the start (reopened in the background). */
  reopenListed: number
  /** From the end of the warm-up until the server's CPU stood still, and the CPU spent in it. */
  settleMs: number
  settleCpuMs: number | null
  rssStartMb: number | null
  fdsStart: number | null
  firstTouchGetP50: number
  firstTouchGetCpuMs: number | null
  firstTouchCreateP50: number
  firstTouchCreateCpuMs: number | null
  hotGetP50: number
  hotGetCpuMs: number | null
  hotCreateP50: number
  hotCreateCpuMs: number | null
  roundRobinGetP50: number
  roundRobinGetCpuMs: number | null
  rssAfterMb: number | null
  fdsAfter: number | null
}

const SCALE_SECRETS: PdsSecrets = {
  jwtSecret: 'scale-jwt-secret-0123456789abcdef0123',
  adminPassword: 'scale-admin-password',
  rotationKeyHex: `${'c'.repeat(63)}1`,
}

function env(dataDir: string, port: number, plcUrl: string): Record<string, string> {
  // PDS_ACTOR_STORE_CACHE_SIZE set for the benchmark reaches the server: a small cache shows the
  // round robin past the cache without building a host of 10,000 accounts.
  const cache = process.env.PDS_ACTOR_STORE_CACHE_SIZE
  return { ...hearthEnv(port, dataDir, plcUrl, SCALE_SECRETS), ...(cache ? { PDS_ACTOR_STORE_CACHE_SIZE: cache } : {}) }
}

/** A did:plc of the right shape for account `i` (24 base32 characters); no PLC operation is made. */
function didFor(i: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let id = ''
  for (let n = i, k = 0; k < 19; k++, n = Math.floor(n / 32)) id = alphabet[n % 32] + id
  return `did:plc:scale${id}`
}

let postCounter = 0
function post(): { $type: string; text: string; createdAt: string } {
  const i = postCounter++
  return {
    $type: COLLECTION,
    text: `scale benchmark post ${i}: a sentence or two of ordinary length, like most posts are.`,
    createdAt: new Date(Date.UTC(2024, 9, 1) + i * 1000).toISOString(),
  }
}

function rkeyFor(i: number): string {
  return `3l${(1_000_000_000 + i).toString(32)}aa`
}

/** Adds accounts [from, to) with RECORDS posts each, through the real write path. */
async function generate(s: Services, from: number, to: number, passwordHash: string, out: Account[]): Promise<void> {
  for (let i = from; i < to; i++) {
    const did = didFor(i)
    const store = s.actors.create(did, Secp256k1Keypair.create())
    const first = initRepo(store)
    const { refreshToken, accessJwt } = s.sessions.prepareAccountSession(did)
    s.accounts.createAccount({
      did,
      handle: `s${i}.${HOSTNAME}`,
      email: `s${i}@scale.test`,
      passwordHash,
      repoCid: first.cid.$link,
      repoRev: first.rev,
      inviteCode: null,
      deactivated: false,
      refreshToken,
    })
    let rkey = ''
    for (let done = 0; done < RECORDS; done += BATCH) {
      const writes = []
      for (let j = done; j < Math.min(RECORDS, done + BATCH); j++) {
        rkey = rkeyFor(j)
        writes.push(prepareWrite({ action: 'create', collection: COLLECTION, rkey, record: post() }))
      }
      const { commit } = commitWrites(store, s.sequencer, { writes })
      s.accounts.updateRepoRoot(did, commit.cid.$link, commit.rev)
    }
    out.push({ did, token: accessJwt, rkey })
    // Lets the store cache close what it evicts (it does so after the current turn).
    if (i % 50 === 49) await new Promise((r) => setImmediate(r))
  }
}

function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : null
  } catch {
    return null
  }
}

function fds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
}

async function timed(pid: number, items: Account[], fn: (a: Account) => Promise<unknown>): Promise<{ p50: number; cpuMs: number | null }> {
  const lat: number[] = []
  const c0 = readCpuMs(pid)
  for (const a of items) {
    const t = performance.now()
    await fn(a)
    lat.push(performance.now() - t)
  }
  const c1 = readCpuMs(pid)
  lat.sort((x, y) => x - y)
  return { p50: percentile(lat, 50), cpuMs: c0 === null || c1 === null ? null : (c1 - c0) / items.length }
}

function sample(accounts: Account[], count: number, offset: number): Account[] {
  const n = Math.min(count, accounts.length)
  const step = accounts.length / n
  return Array.from({ length: n }, (_, k) => accounts[(Math.floor(k * step) + offset) % accounts.length] as Account)
}

/** The DIDs of the open list the server will read at its start (none when there is no list). */
function openListed(actorsDir: string): Set<string> {
  try {
    const lines = readFileSync(join(actorsDir, OPEN_LIST_FILE), 'utf8').split('\n')
    return new Set(lines.filter(Boolean).map((line) => parseListed(line).did))
  } catch {
    return new Set()
  }
}

/** Waits until the server's CPU time stands still for 300 ms (its background work is done). */
async function settle(pid: number): Promise<{ ms: number; cpuMs: number | null }> {
  const t0 = performance.now()
  const c0 = readCpuMs(pid)
  let last = c0
  let still = 0
  while (still < 3 && performance.now() - t0 < 60_000) {
    await new Promise((r) => setTimeout(r, 100))
    const now = readCpuMs(pid)
    still = now !== null && last !== null && now - last <= 10 ? still + 1 : 0
    last = now
  }
  return { ms: performance.now() - t0, cpuMs: c0 === null || last === null ? null : last - c0 }
}

async function measure(dataDir: string, actorsDir: string, plcUrl: string, accounts: Account[], records: number, generateS: number): Promise<SizeResult> {
  const listed = openListed(actorsDir)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const t0 = performance.now()
  const pds = await spawnPds({ name: 'Hearth', args: ['--max-semi-space-size=2', ...(process.env.SCALE_PERF ? ['--perf-basic-prof-only-functions'] : []), 'dist/hearth.mjs', 'serve'], env: env(dataDir, port, plcUrl), url, timeoutMs: 120_000 })
  const startupMs = performance.now() - t0
  const pid = pds.child.pid as number
  const client: XrpcClient = xrpcClient(url)
  try {
    const rssStartMb = rssMb(pid)
    const fdsStart = fds(pid)
    const getRecord = (a: Account) => client.call('GET', 'com.atproto.repo.getRecord', { params: { repo: a.did, collection: COLLECTION, rkey: a.rkey } })
    const createRecord = (a: Account) =>
      client.call('POST', 'com.atproto.repo.createRecord', { token: a.token, json: { repo: a.did, collection: COLLECTION, record: post() } })
    // Warm-up on accounts of their own (the JIT of a fresh process is not what is measured).
    const warm = accounts.slice(0, Math.min(5, accounts.length))
    for (let i = 0; i < 200; i++) await (i % 2 ? createRecord(warm[i % warm.length] as Account) : getRecord(warm[i % warm.length] as Account))
    const settled = await settle(pid)
    const rest = accounts.slice(warm.length).filter((a) => !listed.has(a.did))
    const half = Math.floor(rest.length / 2)
    const perf = process.env.SCALE_PERF
      ? spawn('perf', ['record', '-g', '-o', `${process.env.SCALE_PERF}-${accounts.length}`, '-p', String(pid)], { stdio: 'ignore' })
      : null
    if (perf) await new Promise((r) => setTimeout(r, 500))
    const ftGet = await timed(pid, sample(rest.slice(0, half), SAMPLE, 0), getRecord)
    if (perf) {
      perf.kill('SIGINT')
      await new Promise((r) => perf.once('exit', r))
    }
    const ftCreate = await timed(pid, sample(rest.slice(half), SAMPLE, 0), createRecord)
    const hot = Array.from({ length: 300 }, (_, k) => warm[k % warm.length] as Account)
    const hotGet = await timed(pid, hot, getRecord)
    const hotCreate = await timed(pid, hot, createRecord)
    await timed(pid, accounts, getRecord)
    const rr = await timed(pid, accounts, getRecord)
    await new Promise((r) => setTimeout(r, 300))
    return {
      accounts: accounts.length,
      records,
      generateS,
      startupMs,
      reopenListed: listed.size,
      settleMs: settled.ms,
      settleCpuMs: settled.cpuMs,
      rssStartMb,
      fdsStart,
      firstTouchGetP50: ftGet.p50,
      firstTouchGetCpuMs: ftGet.cpuMs,
      firstTouchCreateP50: ftCreate.p50,
      firstTouchCreateCpuMs: ftCreate.cpuMs,
      hotGetP50: hotGet.p50,
      hotGetCpuMs: hotGet.cpuMs,
      hotCreateP50: hotCreate.p50,
      hotCreateCpuMs: hotCreate.cpuMs,
      roundRobinGetP50: rr.p50,
      roundRobinGetCpuMs: rr.cpuMs,
      rssAfterMb: rssMb(pid),
      fdsAfter: fds(pid),
    }
  } finally {
    client.close()
    await pds.stop()
  }
}

const f = (v: number | null, digits = 2) => (v === null ? 'n/a' : v.toFixed(digits))

function table(results: SizeResult[]): string {
  const head = '| accounts | records | start-up ms | reopened at start: stores, settled in ms / CPU ms | first-touch getRecord p50 / CPU ms | hot getRecord p50 / CPU ms | first-touch createRecord p50 / CPU ms | hot createRecord p50 / CPU ms | round-robin getRecord p50 / CPU ms | RSS start / after MB | open fds start / after |'
  const sep = `|${'---|'.repeat(11)}`
  const rows = results.map(
    (r) =>
      `| ${r.accounts} | ${r.records} | ${f(r.startupMs, 0)} | ${r.reopenListed}, ${f(r.settleMs, 0)} / ${f(r.settleCpuMs, 0)} | ${f(r.firstTouchGetP50)} / ${f(r.firstTouchGetCpuMs)} | ${f(r.hotGetP50)} / ${f(r.hotGetCpuMs)} | ${f(r.firstTouchCreateP50)} / ${f(r.firstTouchCreateCpuMs)} | ${f(r.hotCreateP50)} / ${f(r.hotCreateCpuMs)} | ${f(r.roundRobinGetP50)} / ${f(r.roundRobinGetCpuMs)} | ${f(r.rssStartMb, 0)} / ${f(r.rssAfterMb, 0)} | ${r.fdsStart ?? 'n/a'} / ${r.fdsAfter ?? 'n/a'} |`,
  )
  return [head, sep, ...rows].join('\n')
}

async function main(): Promise<void> {
  // The server runs the bundle, as `npm start` does.
  const { execFileSync } = await import('node:child_process')
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
  const plc = await startReferencePlc()
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-scale-'))
  const results: SizeResult[] = []
  try {
    const config = loadConfig(env(dataDir, 0, plc.url), { dotenv: false })
    const passwordHash = await hashPassword('scale-password')
    const accounts: Account[] = []
    for (const size of SIZES) {
      const t0 = performance.now()
      const s = createServices(config)
      try {
        await generate(s, accounts.length, size, passwordHash, accounts)
      } finally {
        s.close()
      }
      const generateS = (performance.now() - t0) / 1000
      log(`${size} accounts, ${size * RECORDS} records (generated in ${generateS.toFixed(1)} s)`)
      const r = await measure(dataDir, config.actorStore.directory, plc.url, accounts, size * RECORDS, generateS)
      log(table([r]).split('\n')[2] as string)
      results.push(r)
    }
  } finally {
    await plc.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
  process.stdout.write(`${table(results)}\n`)
  process.stdout.write(`${JSON.stringify({ scale: results })}\n`)
}

await main()
