// The firehose fan-out and backfill benchmark: Hearth beside the official PDS 0.5.35, each in a
// fresh child process (processes.ts).
//
// Fan-out: one writer makes createRecord calls at a fixed rate (open loop: a slow answer does not
// delay the next call) first with no subscriber, then with N subscribers to subscribeRepos held by
// consumer processes of their own (fanout-consumer.mjs). Reported: #commit frames delivered of
// those expected (subscribers × commits the writes made), lag from each frame's `time` (when the
// server sequenced the commit) to its receipt and from the write being sent, p50/p99, subscribers cut off, writes failed, and
// write latency p50/p99 without and with subscribers, and server CPU per commit.
//
// Backfill: the event log is filled with copies of real commit events (written into the
// sequencer database beside the running server, which both read the same schema), then one
// subscriber replays it from cursor 0: events per second.
//
//   npm run bench:fanout                       both servers at 1,000 and 3,000 subscribers
//   npm run bench:fanout -- --subscribers 300 --seconds 10 --servers hearth --backfill 0
//
// In `npm run bench` (fanoutBenchmarks), BENCH_FANOUT sets the subscriber count (default 300,
// 0 skips the rows) and BENCH_FANOUT_BACKFILL the events replayed (default 50,000).
import { type ChildProcess, fork } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openDb } from '../../src/storage/sqlite.ts'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import type { Row } from '../harness.ts'
import { type XrpcClient, xrpcClient } from './client.ts'
import { ensureOfficial05 } from './official-05.ts'
import { BENCH_SECRETS, type PdsProcess, readCpuMs, startHearthProcess, startOfficialProcess } from './processes.ts'
import { percentile } from './workload.ts'

const CONSUMER = fileURLToPath(new URL('./fanout-consumer.mjs', import.meta.url))

export interface FanoutOptions {
  subscribers: number
  /** Commits per second. */
  rate: number
  /** Seconds of writing, with subscribers (and again without). */
  seconds: number
  /** Consumer processes the subscribers are spread over. */
  consumers: number
}

export interface FanoutResult {
  server: string
  subscribers: number
  connected: number
  writes: number
  /** Commits the writes made (a write that timed out may still have been committed). */
  commits: number
  writesFailed: number
  expected: number
  delivered: number
  /** Subscribers that received an error frame (ConsumerTooSlow) or were closed early. */
  cutOff: number
  /** Frames out of order or with a seq gap, summed over subscribers. */
  gaps: number
  lagP50: number | null
  lagP99: number | null
  /** Lag from the writer sending the createRecord, so with the write's own time. */
  sentLagP50: number | null
  sentLagP99: number | null
  writeP50Alone: number
  writeP99Alone: number
  writeP50: number
  writeP99: number
  cpuPerCommitAlone: number | null
  cpuPerCommit: number | null
  /** ms per second the server's threads waited for a CPU, in each phase (see runQueueWaitMs). */
  runQueueWaitAlone: number | null
  runQueueWait: number | null
  /** Time from the last write to the last frame counted. */
  drainMs: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let postN = 0
/** A post whose text carries the time it was sent (@sent=<ms since the epoch>), for the end-to-end lag. */
function post(): Record<string, unknown> {
  const i = postN++
  return { $type: 'app.bsky.feed.post', text: `fan-out benchmark post ${i} @sent=${Date.now()}: a sentence or two.`, createdAt: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() }
}

async function createAccount(client: XrpcClient, name: string): Promise<{ did: string; token: string }> {
  const res = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: `password-${name}` },
  })) as { did: string; accessJwt: string }
  return { did: res.did, token: res.accessJwt }
}

async function countRecords(client: XrpcClient, did: string): Promise<number> {
  let n = 0
  let cursor: string | undefined
  do {
    const params: Record<string, string> = { repo: did, collection: 'app.bsky.feed.post', limit: '100' }
    if (cursor) params.cursor = cursor
    const res = (await client.call('GET', 'com.atproto.repo.listRecords', { params })) as { records: unknown[]; cursor?: string }
    n += res.records.length
    cursor = res.records.length > 0 ? res.cursor : undefined
  } while (cursor)
  return n
}

/**
 * Time the process's threads spent runnable but waiting for a CPU, in ms (the second field of
 * each thread's schedstat under /proc/<pid>/task; null without it): on a shared machine, what
 * tells a server waiting for a core from a server busy with its own work.
 */
function runQueueWaitMs(pid: number): number | null {
  try {
    let ns = 0
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[1])
    }
    return ns / 1e6
  } catch {
    return null
  }
}

/** The record count once it has stopped moving for a second (at most a minute). */
async function settledCount(client: XrpcClient, did: string): Promise<number> {
  let last = await countRecords(client, did)
  const deadline = performance.now() + 60_000
  for (;;) {
    await sleep(1000)
    const now = await countRecords(client, did)
    if (now === last || performance.now() > deadline) return now
    last = now
  }
}

/** Writes at `rate`/s for `seconds`; latencies of the calls that succeeded, and failures. */
async function writePhase(client: XrpcClient, acct: { did: string; token: string }, rate: number, seconds: number) {
  const total = Math.round(rate * seconds)
  const lat: number[] = []
  let failed = 0
  const calls: Promise<void>[] = []
  const t0 = performance.now()
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    const sent = performance.now()
    const call = client.call('POST', 'com.atproto.repo.createRecord', { token: acct.token, json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post() } })
    const timeout = sleep(10_000).then(() => {
      throw new Error('timed out')
    })
    calls.push(
      Promise.race([call, timeout]).then(
        () => void lat.push(performance.now() - sent),
        () => void failed++,
      ),
    )
  }
  await Promise.all(calls)
  lat.sort((a, b) => a - b)
  return { ok: lat.length, failed, p50: percentile(lat, 50), p99: percentile(lat, 99), ms: performance.now() - t0 }
}

interface Final {
  commits: number
  lastAt: number
  perSub: Array<{ commits: number; gaps: number; disorder: number; error: string | null; closeCode: number | null; ended: boolean }>
  hist: Array<[number, number]>
  histSent: Array<[number, number]>
  seqs: number[]
}

class ConsumerProcess {
  readonly child: ChildProcess
  private waiting = new Map<string, (m: any) => void>()
  private exited: Promise<void>

  constructor() {
    // Plain node, no loader: the consumer is plain JavaScript.
    this.child = fork(CONSUMER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: any) => {
      const w = this.waiting.get(m.type)
      this.waiting.delete(m.type)
      w?.(m)
    })
    this.exited = new Promise((r) => this.child.once('exit', () => r()))
  }

  private ask<T>(cmd: Record<string, unknown>, reply: string): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.set(reply, resolve as (m: any) => void)
      this.child.send(cmd)
    })
  }

  open(url: string, count: number) {
    return this.ask<{ open: number; failed: number; error?: string }>({ cmd: 'open', url, count }, 'ready')
  }
  async commits(): Promise<number> {
    return (await this.ask<{ commits: number }>({ cmd: 'stats' }, 'stats')).commits
  }
  finish() {
    return this.ask<Final>({ cmd: 'finish' }, 'final')
  }
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }
}

function perSecond(a: number | null, b: number | null, ms: number): number | null {
  return a === null || b === null ? null : ((b - a) * 1000) / ms
}

function mergedPercentile(hists: Array<Array<[number, number]>>, p: number): number | null {
  const counts = new Map<number, number>()
  let total = 0
  for (const h of hists) {
    for (const [ms, n] of h) {
      counts.set(ms, (counts.get(ms) ?? 0) + n)
      total += n
    }
  }
  if (total === 0) return null
  const want = Math.ceil((p / 100) * total)
  let seen = 0
  for (const ms of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(ms) as number
    if (seen >= want) return ms
  }
  return null
}

export async function runFanout(pds: PdsProcess, o: FanoutOptions, log: (line: string) => void): Promise<FanoutResult> {
  const client = xrpcClient(pds.url)
  const consumers: ConsumerProcess[] = []
  try {
    const acct = await createAccount(client, `fanout${Date.now() % 1e6}`)
    // Warm-up, then the writes without subscribers.
    await writePhase(client, acct, o.rate, 1)
    const start = await settledCount(client, acct.did)
    // Server CPU per commit made, up to the count settling (so with the writes a slow server
    // still had queued when the client gave up on them; and a few listRecords calls).
    let cpu0 = pds.cpuMs()
    let wait0 = runQueueWaitMs(pds.pid)
    const alone = await writePhase(client, acct, o.rate, o.seconds)
    const waitAlone = perSecond(wait0, runQueueWaitMs(pds.pid), alone.ms)
    // Writes of the first phase that a slow server still had queued land before this count, and
    // before any subscriber connects.
    const before = await settledCount(client, acct.did)
    let cpu1 = pds.cpuMs()
    const cpuPerCommitAlone = cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / Math.max(1, before - start)
    log(`  ${pds.name}: no subscribers: ${alone.ok} writes, ${alone.failed} failed, p50 ${alone.p50.toFixed(1)} ms, p99 ${alone.p99.toFixed(1)} ms`)

    const wsUrl = `${pds.url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`
    for (let i = 0; i < o.consumers; i++) consumers.push(new ConsumerProcess())
    const share = (i: number) => Math.floor(o.subscribers / o.consumers) + (i < o.subscribers % o.consumers ? 1 : 0)
    const t0 = performance.now()
    const opened = await Promise.all(consumers.map((c, i) => c.open(wsUrl, share(i))))
    const connected = opened.reduce((n, r) => n + r.open, 0)
    const failedOpen = opened.reduce((n, r) => n + r.failed, 0)
    log(`  ${pds.name}: ${connected} subscribers connected in ${(performance.now() - t0).toFixed(0)} ms${failedOpen ? `, ${failedOpen} failed (${opened.find((r) => r.error)?.error})` : ''}`)
    // Let the server attach every subscriber to the live tail.
    await sleep(1000)

    const consumerCpu = () => consumers.reduce((n, c) => n + (readCpuMs(c.child.pid as number) ?? 0), 0)
    const ccpu0 = consumerCpu()
    cpu0 = pds.cpuMs()
    wait0 = runQueueWaitMs(pds.pid)
    const withSubs = await writePhase(client, acct, o.rate, o.seconds)
    const waitWithSubs = perSecond(wait0, runQueueWaitMs(pds.pid), withSubs.ms)
    const lastWrite = performance.now()
    const lastWriteWall = Date.now()
    const consumerCpuShare = (consumerCpu() - ccpu0) / withSubs.ms
    log(`  ${pds.name}: ${connected} subscribers: ${withSubs.ok} writes, ${withSubs.failed} failed, p50 ${withSubs.p50.toFixed(1)} ms, p99 ${withSubs.p99.toFixed(1)} ms`)
    // A write that timed out may still have been committed (and sent), later: count the commits
    // made once the count stops moving, and every commit any subscriber saw.
    const commits = (await settledCount(client, acct.did)) - before
    cpu1 = pds.cpuMs()
    const cpuPerCommit = cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / Math.max(1, commits)
    // Wait for the frames still on their way: until all are in, or none came for 10 s.
    let delivered = 0
    const expectedSoFar = connected * commits
    let lastProgress = performance.now()
    while (delivered < expectedSoFar && performance.now() - lastProgress < 10_000 && performance.now() - lastWrite < 120_000) {
      await sleep(100)
      const now = (await Promise.all(consumers.map((c) => c.commits()))).reduce((a, b) => a + b, 0)
      if (now > delivered) {
        delivered = now
        lastProgress = performance.now()
      }
    }
    const finals = await Promise.all(consumers.map((c) => c.finish()))
    const seen = new Set(finals.flatMap((f) => f.seqs)).size
    const expected = connected * Math.max(commits, seen)
    const subs = finals.flatMap((f) => f.perSub)
    delivered = finals.reduce((n, f) => n + f.commits, 0)
    const cutOff = subs.filter((s) => s.error !== null || s.ended).length
    const gaps = subs.reduce((n, s) => n + s.gaps + s.disorder, 0)
    const hists = finals.map((f) => f.hist)
    const result: FanoutResult = {
      server: pds.name,
      subscribers: o.subscribers,
      connected,
      writes: withSubs.ok + withSubs.failed,
      commits,
      writesFailed: withSubs.failed,
      expected,
      delivered,
      cutOff,
      gaps,
      lagP50: mergedPercentile(hists, 50),
      lagP99: mergedPercentile(hists, 99),
      sentLagP50: mergedPercentile(finals.map((f) => f.histSent), 50),
      sentLagP99: mergedPercentile(finals.map((f) => f.histSent), 99),
      writeP50Alone: alone.p50,
      writeP99Alone: alone.p99,
      writeP50: withSubs.p50,
      writeP99: withSubs.p99,
      cpuPerCommitAlone,
      cpuPerCommit,
      runQueueWaitAlone: waitAlone,
      runQueueWait: waitWithSubs,
      drainMs: Math.max(0, ...finals.map((f) => f.lastAt)) - lastWriteWall,
    }
    const errors = [...new Set(subs.map((s) => s.error).filter((e) => e !== null))]
    log(
      `  ${pds.name}: delivered ${delivered} of ${expected} (${((100 * delivered) / Math.max(1, expected)).toFixed(2)}%), lag p50 ${result.lagP50} ms p99 ${result.lagP99} ms ` +
        `(from the write sent: p50 ${result.sentLagP50} ms p99 ${result.sentLagP99} ms), ` +
        `${cutOff} cut off${errors.length ? ` (${errors.join(', ')})` : ''}, ${gaps} gaps, drained ${result.drainMs.toFixed(0)} ms after the last write, ` +
        `server CPU/commit ${cpuPerCommitAlone?.toFixed(2)} → ${cpuPerCommit?.toFixed(2)} ms, ` +
        `consumers used ${(consumerCpuShare * 100).toFixed(0)}% of a core, ` +
        `the server waited for a CPU ${result.runQueueWaitAlone?.toFixed(0)} → ${result.runQueueWait?.toFixed(0)} ms/s`,
    )
    return result
  } finally {
    await Promise.all(consumers.map((c) => c.kill()))
    client.close()
  }
}

export interface BackfillResult {
  server: string
  events: number
  eventsPerSec: number
  cpuPerEvent: number | null
}

/** Fills the log to `events` commit events, then replays it from cursor 0 to one subscriber. */
export async function runBackfill(pds: PdsProcess, events: number, log: (line: string) => void): Promise<BackfillResult> {
  const client = xrpcClient(pds.url)
  const consumer = new ConsumerProcess()
  try {
    const acct = await createAccount(client, `backfill${Date.now() % 1e6}`)
    // Real commits to copy: each an ordinary one-post commit of this account.
    for (let i = 0; i < 20; i++) {
      await client.call('POST', 'com.atproto.repo.createRecord', { token: acct.token, json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post() } })
    }
    const db = openDb(join(pds.dataDir, 'sequencer.sqlite'))
    let total: number
    try {
      const now = new Date().toISOString()
      const fill = db.prepare(
        `INSERT INTO repo_seq ("did", "eventType", "event", "invalidated", "sequencedAt")
         SELECT "did", "eventType", "event", 0, ? FROM repo_seq WHERE "eventType" = 'append' AND "did" = ? ORDER BY "seq" LIMIT ?`,
      )
      const count = () => (db.prepare('SELECT count(*) AS n FROM repo_seq WHERE "invalidated" = 0').get() as { n: number }).n
      db.transaction(() => {
        while (count() < events) fill.run(now, acct.did, events - count())
      })()
      total = count()
      // The commit frames among them (account and identity events are not counted).
      total = (db.prepare(`SELECT count(*) AS n FROM repo_seq WHERE "invalidated" = 0 AND "eventType" = 'append'`).get() as { n: number }).n
    } finally {
      db.close()
    }
    await sleep(500)
    const url = `${pds.url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`
    const cpu0 = pds.cpuMs()
    const t0 = performance.now()
    const opened = await consumer.open(url, 1)
    if (opened.open !== 1) throw new Error(`backfill subscriber could not connect: ${opened.error}`)
    let got = 0
    let lastProgress = performance.now()
    let doneAt = t0
    while (got < total && performance.now() - lastProgress < 10_000) {
      await sleep(20)
      const now = await consumer.commits()
      if (now > got) {
        got = now
        doneAt = lastProgress = performance.now()
      }
    }
    const cpu1 = pds.cpuMs()
    const secs = (doneAt - t0) / 1000
    const result: BackfillResult = { server: pds.name, events: got, eventsPerSec: got / secs, cpuPerEvent: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / Math.max(1, got) }
    log(`  ${pds.name}: backfill of ${got} of ${total} commit events in ${(secs * 1000).toFixed(0)} ms: ${result.eventsPerSec.toFixed(0)} events/s, server CPU ${((result.cpuPerEvent ?? 0) * 1000).toFixed(1)} µs/event`)
    return result
  } finally {
    await consumer.kill()
    client.close()
  }
}

type ServerName = 'hearth' | 'official'

async function startServer(which: ServerName, plcUrl: string): Promise<PdsProcess> {
  return which === 'hearth' ? startHearthProcess(plcUrl, BENCH_SECRETS) : startOfficialProcess(plcUrl, BENCH_SECRETS, {}, '0.5.35')
}

/** Each run on a fresh server process, alternating official and Hearth for each count. */
export async function runFanoutSuite(
  o: { counts: number[]; servers: ServerName[]; rate: number; seconds: number; consumers: number; backfill: number },
  log: (line: string) => void,
): Promise<{ fanout: FanoutResult[]; backfill: BackfillResult[] }> {
  const plc = await startReferencePlc()
  const fanout: FanoutResult[] = []
  const backfill: BackfillResult[] = []
  try {
    let servers = o.servers
    if (servers.includes('official')) {
      const why = await ensureOfficial05(log)
      if (why) {
        log(`fan-out: no official figures: ${why}`)
        servers = servers.filter((s) => s !== 'official')
      }
    }
    for (const n of o.counts) {
      for (const which of servers) {
        const pds = await startServer(which, plc.url)
        try {
          fanout.push(await runFanout(pds, { subscribers: n, rate: o.rate, seconds: o.seconds, consumers: o.consumers }, log))
        } finally {
          await pds.stop()
        }
      }
    }
    if (o.backfill > 0) {
      for (const which of servers) {
        const pds = await startServer(which, plc.url)
        try {
          backfill.push(await runBackfill(pds, o.backfill, log))
        } finally {
          await pds.stop()
        }
      }
    }
  } finally {
    await plc.close()
  }
  return { fanout, backfill }
}

/** The rows of `npm run bench`: BENCH_FANOUT subscribers (default 300; 0 skips). */
export async function fanoutBenchmarks(): Promise<Row[]> {
  const n = Number(process.env.BENCH_FANOUT ?? 300)
  if (process.env.BENCH_SERVER === '0' || !(n > 0)) return []
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const events = Number(process.env.BENCH_FANOUT_BACKFILL ?? 50_000)
  const seconds = Number(process.env.BENCH_FANOUT_SECONDS ?? 10)
  const { fanout, backfill } = await runFanoutSuite({ counts: [n], servers: ['official', 'hearth'], rate: 50, seconds, consumers: 4, backfill: events }, log)
  const h = fanout.find((r) => r.server === 'Hearth')
  const o = fanout.find((r) => r.server !== 'Hearth') ?? null
  const rows: Row[] = []
  if (h) {
    const row = (name: string, pick: (r: FanoutResult) => number | null, unit: string, higherIsBetter: boolean) => {
      const hv = pick(h)
      if (hv !== null) rows.push({ name: `server_firehose_${n}_subs_${name}`, hearth: hv, reference: o ? pick(o) : null, unit, higherIsBetter })
    }
    row('delivered', (r) => (100 * r.delivered) / Math.max(1, r.expected), '%', true)
    row('lag_p50', (r) => r.lagP50, 'ms', false)
    row('lag_p99', (r) => r.lagP99, 'ms', false)
    row('lag_from_write_p99', (r) => r.sentLagP99, 'ms', false)
    row('writes_failed', (r) => r.writesFailed, 'writes', false)
    row('write_p99', (r) => r.writeP99, 'ms', false)
    row('cpu', (r) => r.cpuPerCommit, 'ms CPU/commit', false)
  }
  const hb = backfill.find((r) => r.server === 'Hearth')
  const ob = backfill.find((r) => r.server !== 'Hearth')
  if (hb) rows.push({ name: 'server_firehose_backfill', hearth: hb.eventsPerSec, reference: ob?.eventsPerSec ?? null, unit: 'events/s', higherIsBetter: true })
  return rows
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const counts = (arg('subscribers') ?? '1000,3000').split(',').map(Number)
  const servers = (arg('servers') ?? 'official,hearth').split(',') as ServerName[]
  const { fanout, backfill } = await runFanoutSuite(
    {
      counts,
      servers,
      rate: Number(arg('rate') ?? 50),
      seconds: Number(arg('seconds') ?? 20),
      consumers: Number(arg('consumers') ?? 4),
      backfill: Number(arg('backfill') ?? 100_000),
    },
    log,
  )
  process.stdout.write(`${JSON.stringify({ fanout, backfill })}\n`)
}
