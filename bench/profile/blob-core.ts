// `node --import tsx bench/profile/blob-core.ts <tree> [<tree> ...] [official]`: why a 1 MiB
// uploadBlob costs more in the server benchmark's core row than in its disk blob row. For each
// server (a built tree's dist/hearth.mjs started as `npm start` runs it, or the official 0.5.35),
// CORE_ROUNDS times, servers alternating:
//   fresh  a new server, one account, its first upload alone, BLOB_N - 1 more, then BLOB_N more
//   core   a new server, the core workload (bench/server/workload.ts, whose last row is its 40
//          uploads), then BLOB_N more uploads on the same account; once without the workload's
//          warm-up uploads before its row, once with them (a new server each time)
// Per span: server CPU per upload (user + system from /proc/<pid>/stat), the main thread's
// share (/proc/<pid>/task/<pid>/stat), and for Hearth the garbage collections in it (counted in
// the server by a preload, bench/profile/blob-gc-count.cjs, read on SIGUSR2): how many scavenges
// and mark-compacts fell in the span, and their summed pauses (wall-clock ms, so a loaded machine
// lengthens them). The clock ticks are 10 ms: a span of 40 uploads is good to ~0.25 ms an upload,
// the first upload alone to 10 ms.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { type PdsProcess, BENCH_SECRETS, startHearthTree, startOfficialProcess } from '../server/processes.ts'
import { COUNTS, runWorkload } from '../server/workload.ts'
import { blobBodies, procCpuMs } from './blob-bodies.ts'

const ROUNDS = Number(process.env.CORE_ROUNDS ?? 2)
const N = Number(process.env.BLOB_N ?? COUNTS.uploadBlob)
// The core workload's warm-up uploads before its row (bench/server/workload.ts); each round runs
// the workload once without and once with them.
const WARMUP = COUNTS.uploadBlobWarmup
const GC_PRELOAD = fileURLToPath(new URL('./blob-gc-count.cjs', import.meta.url))

/** User + system ms of a process or a thread. */
function cpu(path: string): number {
  const [user, system] = procCpuMs(path)
  return user + system
}

const blob = blobBodies('blob-core')
let gcFiles = 0

interface Gc {
  scavenges: number
  scavengeMs: number
  markCompacts: number
  markCompactMs: number
}

type GcEvent = [number, string, number]

/** Every collection the server has made so far (its preload writes them on SIGUSR2). */
async function gcEvents(pid: number, file: string | undefined): Promise<GcEvent[] | null> {
  if (!file) return null
  rmSync(file, { force: true })
  process.kill(pid, 'SIGUSR2')
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 50))
  return JSON.parse(readFileSync(file, 'utf8')) as GcEvent[]
}

function gcIn(events: GcEvent[] | null, t0: number, t1: number): Gc | null {
  if (!events) return null
  const gc: Gc = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 }
  for (const [t, kind, ms] of events) {
    if (t < t0 || t > t1) continue
    if (kind === 'scavenge') {
      gc.scavenges++
      gc.scavengeMs += ms
    } else if (kind === 'mark-compact') {
      gc.markCompacts++
      gc.markCompactMs += ms
    }
  }
  return gc
}

interface Mark {
  t: number
  cpu: number
  main: number
}

function mark(pid: number): Mark {
  return { t: Date.now(), cpu: cpu(`/proc/${pid}/stat`), main: cpu(`/proc/${pid}/task/${pid}/stat`) }
}

type Span = { cpu: number; main: number; gc: Gc | null; t0: number; t1: number }

function between(a: Mark, b: Mark, ops: number): Span {
  return { cpu: (b.cpu - a.cpu) / ops, main: (b.main - a.main) / ops, gc: null, t0: a.t, t1: b.t }
}

async function span(pid: number, ops: number, run: () => Promise<void>): Promise<Span> {
  const a = mark(pid)
  await run()
  return between(a, mark(pid), ops)
}

async function uploads(url: string, token: string, n = N): Promise<void> {
  const client = xrpcClient(url)
  const bodies = Array.from({ length: n }, blob)
  try {
    for (const body of bodies) await client.call('POST', 'com.atproto.repo.uploadBlob', { token, body, contentType: 'application/octet-stream' })
  } finally {
    client.close()
  }
}

const plc = await startReferencePlc()
const scratch = mkdtempSync(join(tmpdir(), 'blob-core-'))
const results = new Map<string, Record<string, Span[]>>()
const record = (server: string, what: string, s: Span) => {
  const r = results.get(server) ?? {}
  ;(r[what] ??= []).push(s)
  results.set(server, r)
}

async function start(arg: string): Promise<{ p: PdsProcess; gcFile: string | undefined; name: string }> {
  if (arg === 'official') {
    return { p: await startOfficialProcess(plc.url, BENCH_SECRETS, {}, '0.5.35'), gcFile: undefined, name: 'official 0.5.35' }
  }
  const gcFile = join(scratch, `gc-${gcFiles++}.json`)
  const p = await startHearthTree(resolve(arg), plc.url, { env: { GC_COUNT_FILE: gcFile }, nodeArgs: ['--require', GC_PRELOAD] })
  return { p, gcFile, name: resolve(arg) }
}

try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const arg of process.argv.slice(2)) {
      {
        const { p, gcFile, name } = await start(arg)
        try {
          const client = xrpcClient(p.url)
          const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
            json: { handle: `blobcore${r}.pds.bench.test`, email: `blobcore${r}@bench.test`, password: 'password-blob-core' },
          })) as { did: string; accessJwt: string }
          client.close()
          const first = await span(p.pid, 1, () => uploads(p.url, acct.accessJwt, 1))
          const a = await span(p.pid, N - 1, () => uploads(p.url, acct.accessJwt, N - 1))
          const b = await span(p.pid, N, () => uploads(p.url, acct.accessJwt))
          const events = await gcEvents(p.pid, gcFile)
          for (const [what, s] of [['fresh, the first upload', first], [`fresh, the next ${N - 1} uploads`, a], [`fresh, the ${N} after those`, b]] as const) {
            s.gc = gcIn(events, s.t0, s.t1)
            record(name, what, s)
          }
        } finally {
          await p.stop()
        }
      }
      for (const warmup of [0, WARMUP]) {
        const { p, gcFile, name } = await start(arg)
        try {
          // The workload reads the server's CPU at the start and end of each row; the last two
          // readings bracket its uploads.
          COUNTS.uploadBlobWarmup = warmup
          const marks: Mark[] = []
          await runWorkload(p.url, () => {}, () => {
            marks.push(mark(p.pid))
            return p.cpuMs()
          })
          const row = between(marks.at(-2) as Mark, marks.at(-1) as Mark, COUNTS.uploadBlob)
          const client = xrpcClient(p.url)
          const acct = (await client.call('POST', 'com.atproto.server.createSession', {
            json: { identifier: 'bench-main.pds.bench.test', password: 'password-bench-main' },
          })) as { accessJwt: string }
          client.close()
          const next = await span(p.pid, N, () => uploads(p.url, acct.accessJwt))
          const events = await gcEvents(p.pid, gcFile)
          for (const [what, s] of [[`core row, ${warmup} warm-up uploads`, row], [`core row (${warmup} warm-up), next ${N} uploads`, next]] as const) {
            s.gc = gcIn(events, s.t0, s.t1)
            record(name, what, s)
          }
        } finally {
          await p.stop()
        }
      }
    }
  }
  const f = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2))
  for (const [name, r] of results) {
    console.log(name)
    for (const [what, spans] of Object.entries(r)) {
      const parts = spans.map((s) => {
        const gc = s.gc ? `, gc ${s.gc.scavenges} sc ${f(s.gc.scavengeMs)} ms, ${s.gc.markCompacts} mc ${f(s.gc.markCompactMs)} ms` : ''
        return `${f(s.cpu)} (main ${f(s.main)}${gc})`
      })
      console.log(`  ${what}: ${parts.join(' | ')}`)
    }
  }
} finally {
  await plc.close()
  rmSync(scratch, { recursive: true, force: true })
}
