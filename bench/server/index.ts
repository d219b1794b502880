// The server benchmark: Hearth and the official PDS (@atproto/pds 0.5.35 under Node 22, or
// 0.4.217 with BENCH_OFFICIAL=0.4.217), each in its own child process with on-disk SQLite and a
// disk blobstore in a temp directory, both on the same in-memory PLC directory, driven one after
// the other by the same client with the same requests (workload.ts, sync.ts, proxy.ts,
// many.ts); the main workload in BENCH_ROUNDS alternating rounds (below). `BENCH_SERVER=0`
// skips it; BENCH_MANY=0 skips the many-accounts rows.
import { readFileSync } from 'node:fs'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import type { Row } from '../harness.ts'
import { MANY_COUNTS, type ManyResults, runManyAccountsWorkload } from './many.ts'
import { ensureOfficial, OFFICIAL_VERSION } from './official.ts'
import { ensureOfficial05, OFFICIAL_05_VERSION } from './official-05.ts'
import { type OfficialRelease, BENCH_SECRETS, type PdsProcess, startHearthProcess, startOfficialProcess } from './processes.ts'
import { type BenchAppView, PROXY_COUNTS, type ProxyResults, runProxyWorkload, startBenchAppView } from './proxy.ts'
import { runSyncWorkload, SYNC_COUNTS, type SyncResults } from './sync.ts'
import { COUNTS, runWorkload, type ServerResults } from './workload.ts'

interface Measured extends ServerResults, SyncResults, ProxyResults, Partial<ManyResults> {
  rssIdleMb: number | null
  rssAfterMb: number | null
}

const RELEASE: OfficialRelease = process.env.BENCH_OFFICIAL === OFFICIAL_VERSION ? OFFICIAL_VERSION : OFFICIAL_05_VERSION
const MANY = process.env.BENCH_MANY !== '0'
/** BENCH_MANY=only: the many-accounts rows alone (with the RSS rows), for a quick side-by-side. */
const MANY_ONLY = process.env.BENCH_MANY === 'only'

const log = (line: string) => process.stderr.write(`${line}\n`)

/**
 * BENCH_ROUNDS (default 2): the main workload (workload.ts and the memory rows) runs this many
 * times on each server, each time on a fresh process and data directory, the two servers taking
 * turns (official then Hearth, then Hearth then official, ...), and each row keeps each server's
 * best round, as issue #18's own measurements were taken. On this shared 2-core VM a server's
 * figures move with the host's load from minute to minute; alternating rounds give both servers
 * the same chance of a quiet one. The sync, proxy and many-accounts rows run once, on each
 * server's last round.
 */
const ROUNDS = Math.max(1, Math.trunc(Number(process.env.BENCH_ROUNDS ?? 2)) || 1)

interface MainRound extends ServerResults {
  rssIdleMb: number | null
  rssAfterMb: number | null
}

/** CPU time this VM's host took from it (the steal column of /proc/stat), in seconds; null off Linux. */
function stolenSeconds(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/)
    const ticks = Number(cpu?.[8])
    return Number.isFinite(ticks) ? ticks / 100 : null
  } catch {
    return null
  }
}

/** One run of the main workload on a fresh server; `last` goes on to the other rows before stopping. */
async function measureRound(start: () => Promise<PdsProcess>, appView: BenchAppView, label: string, last: boolean): Promise<Measured> {
  let pds = await start()
  try {
    log(`${pds.name} (pid ${pds.pid}) at ${pds.url}, ${label}`)
    const stolen0 = stolenSeconds()
    const rssIdleMb = pds.rssMb()
    const cpu = () => pds.cpuMs()
    const results = MANY_ONLY ? ({} as ServerResults) : await runWorkload(pds.url, log, cpu)
    // Let the servers finish background work (blob moves, sequencer) before reading memory.
    await new Promise((r) => setTimeout(r, 500))
    const rssAfterMb = pds.rssMb()
    const stolen1 = stolenSeconds()
    if (!MANY_ONLY) {
      const f = (v: number | null) => (v === null ? '-' : v.toFixed(3))
      log(
        `  ${label}: ms CPU per op: createRecord ${f(results.createSeqCpuMs)}, settled ${f(results.createSeqWarmCpuMs)}, ` +
          `8 clients ${f(results.createConcCpuMs)}, applyWrites/record ${f(results.applyWritesCpuMs)}, getRecord ${f(results.getRecordCpuMs)}, ` +
          `listRecords ${f(results.listRecordsCpuMs)}, uploadBlob ${f(results.uploadBlobCpuMs)}` +
          (stolen0 !== null && stolen1 !== null ? `; the host took ${(stolen1 - stolen0).toFixed(1)} s of CPU meanwhile` : ''),
      )
    }
    // An earlier round has only the main workload's fields; bestOf takes the rest from the last.
    if (!last) return { ...results, rssIdleMb, rssAfterMb } as Measured
    // After the memory reading, so that rss_after_load keeps meaning the main workload alone.
    const sync = MANY_ONLY ? ({} as SyncResults) : await runSyncWorkload(pds.url, log, cpu)
    const proxy = MANY_ONLY ? ({} as ProxyResults) : await runProxyWorkload(pds.url, appView, log)
    let many: ManyResults | undefined
    if (MANY) {
      // Last: it restarts the server.
      const ran = await runManyAccountsWorkload(pds, log)
      pds = ran.pds
      many = ran.results
    }
    return { ...results, ...sync, ...proxy, ...many, rssIdleMb, rssAfterMb }
  } finally {
    await pds.stop()
  }
}

/** Each main-workload figure at its best over the rounds (the other rows come from the last). */
function bestOf(rounds: Measured[]): Measured {
  const last = rounds[rounds.length - 1] as Measured
  const out: Measured = { ...last }
  const higherIsBetter = (key: string) => key.endsWith('Ops') || key.endsWith('MBps')
  for (const key of [...Object.keys(MAIN_KEYS), 'rssIdleMb', 'rssAfterMb'] as Array<keyof MainRound>) {
    const values = rounds.map((r) => r[key]).filter((v): v is number => typeof v === 'number')
    if (values.length === 0) continue
    ;(out as unknown as Record<string, number>)[key] = higherIsBetter(key) ? Math.max(...values) : Math.min(...values)
  }
  return out
}

/** The fields runWorkload fills (its rows are the ones measured in rounds). */
const MAIN_KEYS: Record<keyof ServerResults, true> = {
  createSeqOps: true,
  createSeqP50: true,
  createSeqP99: true,
  createConcOps: true,
  createConcP99: true,
  createSharedOps: true,
  createSharedP99: true,
  applyWritesOps: true,
  getRecordOps: true,
  listRecordsOps: true,
  uploadBlobOps: true,
  uploadBlobMBps: true,
  createSeqCpuMs: true,
  createConcCpuMs: true,
  createSharedCpuMs: true,
  applyWritesCpuMs: true,
  getRecordCpuMs: true,
  listRecordsCpuMs: true,
  uploadBlobCpuMs: true,
  createSeqWarmOps: true,
  createSeqWarmP50: true,
  createSeqWarmCpuMs: true,
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export async function serverBenchmarks(): Promise<Row[]> {
  if (process.env.BENCH_SERVER === '0') return []
  const started = performance.now()
  const plc = await startReferencePlc()
  // Both servers proxy app.bsky.* to this one AppView.
  const appView = await startBenchAppView()
  let official: Measured | null = null
  let hearth: Measured | null = null
  let officialWhy: string | null = null
  let hearthWhy: string | null = null
  try {
    officialWhy = RELEASE === OFFICIAL_05_VERSION ? await ensureOfficial05(log) : await ensureOfficial(log)
    const officialRounds: Measured[] = []
    const hearthRounds: Measured[] = []
    const rounds = MANY_ONLY ? 1 : ROUNDS
    for (let r = 0; r < rounds; r++) {
      const last = r === rounds - 1
      const label = `round ${r + 1} of ${rounds}`
      const runOfficial = async () => {
        if (officialWhy !== null) return
        try {
          officialRounds.push(await measureRound(() => startOfficialProcess(plc.url, BENCH_SECRETS, appView.env, RELEASE), appView, label, last))
        } catch (err) {
          officialWhy = `official PDS run failed: ${errorText(err)}`
        }
      }
      const runHearth = async () => {
        if (hearthWhy !== null) return
        try {
          hearthRounds.push(await measureRound(() => startHearthProcess(plc.url, BENCH_SECRETS, appView.env), appView, label, last))
        } catch (err) {
          hearthWhy = errorText(err)
        }
      }
      // Official first in odd rounds, Hearth first in even ones.
      if (r % 2 === 0) {
        await runOfficial()
        await runHearth()
      } else {
        await runHearth()
        await runOfficial()
      }
    }
    // A server that failed in its last round has no sync/proxy/many figures: no rows for it.
    if (officialWhy === null && officialRounds.length === rounds) official = bestOf(officialRounds)
    if (hearthWhy === null && hearthRounds.length === rounds) hearth = bestOf(hearthRounds)
    if (rounds > 1) log(`server rows: the main workload's rows are each server's best of ${rounds} alternating rounds (BENCH_ROUNDS)`)
  } finally {
    await plc.close()
    await appView.close()
  }
  log(`server benchmark took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  if (officialWhy) log(`server rows: no reference figures (@atproto/pds@${RELEASE}): ${officialWhy}`)
  else log(`server rows: the reference is @atproto/pds@${RELEASE}`)
  log(`server rows: Hearth ran under ${process.env.BENCH_HEARTH_NODE ? `BENCH_HEARTH_NODE=${process.env.BENCH_HEARTH_NODE}` : `this node (${process.version})`}`)
  if (!hearth) {
    log(`server rows left out: Hearth could not run the workload: ${hearthWhy}`)
    return []
  }
  const h = hearth
  const o = official
  const note = officialWhy ?? undefined
  const row = (name: string, pick: (m: Measured) => number | null | undefined, unit: string, higherIsBetter: boolean): Row | null => {
    const hv = pick(h)
    if (hv === null || hv === undefined) return null
    return { name: `server_${name}`, hearth: hv, reference: o ? (pick(o) ?? null) : null, unit, higherIsBetter, note }
  }
  const c = COUNTS
  const large = SYNC_COUNTS.largeRepoRecords
  const LARGE = large % 1000 === 0 ? `${large / 1000}k` : String(large)
  const rows = [
    row('create_record_seq', (m) => m.createSeqOps, 'ops/s', true),
    row('create_record_seq_p50', (m) => m.createSeqP50, 'ms', false),
    row('create_record_seq_p99', (m) => m.createSeqP99, 'ms', false),
    row('create_record_seq_settled', (m) => m.createSeqWarmOps, 'ops/s', true),
    row('create_record_seq_settled_p50', (m) => m.createSeqWarmP50, 'ms', false),
    row(`create_record_${c.concurrentClients}_clients`, (m) => m.createConcOps, 'ops/s', true),
    row(`create_record_${c.concurrentClients}_clients_p99`, (m) => m.createConcP99, 'ms', false),
    row(`create_record_${c.concurrentClients}_clients_1_account`, (m) => m.createSharedOps, 'ops/s', true),
    row(`create_record_${c.concurrentClients}_clients_1_account_p99`, (m) => m.createSharedP99, 'ms', false),
    row(`apply_writes_${c.applyWritesBatch}_creates`, (m) => m.applyWritesOps, 'calls/s', true),
    row('get_record', (m) => m.getRecordOps, 'ops/s', true),
    row('list_records_100', (m) => m.listRecordsOps, 'ops/s', true),
    row('upload_blob_1mib', (m) => m.uploadBlobMBps, 'MB/s', true),
    row('get_repo_2k', (m) => m.smallRepoMs, 'ms', false),
    row('get_repo_2k_mbps', (m) => m.smallRepoMBps, 'MB/s', true),
    row('get_repo_10k', (m) => m.getRepoMs, 'ms', false),
    row('get_repo_10k_mbps', (m) => m.getRepoMBps, 'MB/s', true),
    row(`get_repo_${LARGE}`, (m) => m.largeRepoMs, 'ms', false),
    row(`get_repo_${LARGE}_mbps`, (m) => m.largeRepoMBps, 'MB/s', true),
    row(`firehose_fanout_${SYNC_COUNTS.subscribers}`, (m) => m.firehoseEventsPerSec, 'events/s', true),
    row(`firehose_fanout_${SYNC_COUNTS.subscribers}_p50`, (m) => m.firehoseP50, 'ms', false),
    row(`firehose_fanout_${SYNC_COUNTS.subscribers}_p99`, (m) => m.firehoseP99, 'ms', false),
    row(`proxy_get_timeline_${PROXY_COUNTS.clients}_clients`, (m) => m.proxyTimelineOps, 'req/s', true),
    row(`proxy_get_timeline_${PROXY_COUNTS.clients}_clients_p99_added`, (m) => m.proxyTimelineP99Added, 'ms', false),
    row('create_record_seq_cpu', (m) => m.createSeqCpuMs, 'ms CPU/op', false),
    row('create_record_seq_settled_cpu', (m) => m.createSeqWarmCpuMs, 'ms CPU/op', false),
    row(`create_record_${c.concurrentClients}_clients_cpu`, (m) => m.createConcCpuMs, 'ms CPU/op', false),
    row(`create_record_${c.concurrentClients}_clients_1_account_cpu`, (m) => m.createSharedCpuMs, 'ms CPU/op', false),
    row(`apply_writes_${c.applyWritesBatch}_creates_cpu`, (m) => m.applyWritesCpuMs, 'ms CPU/record', false),
    row('get_record_cpu', (m) => m.getRecordCpuMs, 'ms CPU/op', false),
    row('list_records_100_cpu', (m) => m.listRecordsCpuMs, 'ms CPU/op', false),
    row('upload_blob_1mib_cpu', (m) => m.uploadBlobCpuMs, 'ms CPU/op', false),
    row('get_repo_2k_cpu', (m) => m.smallRepoCpuMs, 'ms CPU/op', false),
    row('get_repo_10k_cpu', (m) => m.getRepoCpuMs, 'ms CPU/op', false),
    row(`get_repo_${LARGE}_cpu`, (m) => m.largeRepoCpuMs, 'ms CPU/op', false),
    row(`first_touch_get_record_${MANY_COUNTS.accounts}_accounts_p50`, (m) => m.firstTouchGetP50, 'ms', false),
    row(`first_touch_get_record_${MANY_COUNTS.accounts}_accounts_cpu`, (m) => m.firstTouchGetCpuMs, 'ms CPU/op', false),
    row(`round_robin_get_record_${MANY_COUNTS.accounts}_accounts_p50`, (m) => m.roundRobinGetP50, 'ms', false),
    row(`round_robin_get_record_${MANY_COUNTS.accounts}_accounts_cpu`, (m) => m.roundRobinGetCpuMs, 'ms CPU/op', false),
    row(`first_touch_create_record_${MANY_COUNTS.accounts}_accounts_p50`, (m) => m.firstTouchCreateP50, 'ms', false),
    row(`first_touch_create_record_${MANY_COUNTS.accounts}_accounts_cpu`, (m) => m.firstTouchCreateCpuMs, 'ms CPU/op', false),
    row(`round_robin_create_record_${MANY_COUNTS.accounts}_accounts_p50`, (m) => m.roundRobinCreateP50, 'ms', false),
    row(`round_robin_create_record_${MANY_COUNTS.accounts}_accounts_cpu`, (m) => m.roundRobinCreateCpuMs, 'ms CPU/op', false),
    row('create_account_cpu', (m) => m.createAccountCpuMs, 'ms CPU/op', false),
    row('rss_idle', (m) => m.rssIdleMb, 'MB', false),
    row('rss_after_load', (m) => m.rssAfterMb, 'MB', false),
  ]
  return rows.filter((r): r is Row => r !== null)
}
