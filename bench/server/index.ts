// The server benchmark: Hearth and the official PDS (@atproto/pds 0.5.35 under Node 22, or
// 0.4.217 with BENCH_OFFICIAL=0.4.217), each in its own child process with on-disk SQLite and a
// disk blobstore in a temp directory, both on the same in-memory PLC directory, driven one after
// the other by the same client with the same requests (workload.ts, sync.ts, proxy.ts,
// many.ts). `BENCH_SERVER=0` skips it; BENCH_MANY=0 skips the many-accounts rows.
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

async function measure(start: () => Promise<PdsProcess>, appView: BenchAppView): Promise<Measured> {
  let pds = await start()
  try {
    log(`${pds.name} (pid ${pds.pid}) at ${pds.url}`)
    const rssIdleMb = pds.rssMb()
    const cpu = () => pds.cpuMs()
    const results = MANY_ONLY ? ({} as ServerResults) : await runWorkload(pds.url, log, cpu)
    // Let the servers finish background work (blob moves, sequencer) before reading memory.
    await new Promise((r) => setTimeout(r, 500))
    const rssAfterMb = pds.rssMb()
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
    if (officialWhy === null) {
      try {
        official = await measure(() => startOfficialProcess(plc.url, BENCH_SECRETS, appView.env, RELEASE), appView)
      } catch (err) {
        officialWhy = `official PDS run failed: ${errorText(err)}`
      }
    }
    try {
      hearth = await measure(() => startHearthProcess(plc.url, BENCH_SECRETS, appView.env), appView)
    } catch (err) {
      hearthWhy = errorText(err)
    }
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
