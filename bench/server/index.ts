// The server benchmark: Hearth and the official PDS (@atproto/pds 0.4.217), each in its own
// child process with on-disk SQLite and a disk blobstore in a temp directory, both on the same
// in-memory PLC directory, driven one after the other by the same client with the same
// requests (workload.ts). `BENCH_SERVER=0` skips it.
import { startReferencePlc } from '../../test/identity/helpers.ts'
import type { Row } from '../harness.ts'
import { ensureOfficial, OFFICIAL_VERSION } from './official.ts'
import { type PdsProcess, type PdsSecrets, startHearthProcess, startOfficialProcess } from './processes.ts'
import { type BenchAppView, PROXY_COUNTS, type ProxyResults, runProxyWorkload, startBenchAppView } from './proxy.ts'
import { runSyncWorkload, SYNC_COUNTS, type SyncResults } from './sync.ts'
import { COUNTS, runWorkload, type ServerResults } from './workload.ts'

interface Measured extends ServerResults, SyncResults, ProxyResults {
  rssIdleMb: number | null
  rssAfterMb: number | null
}

const log = (line: string) => process.stderr.write(`${line}\n`)

// Fixed, benchmark-only secrets; the servers live for the run only, on loopback.
const SECRETS: PdsSecrets = {
  jwtSecret: 'bench-jwt-secret-0123456789abcdef0123',
  adminPassword: 'bench-admin-password',
  rotationKeyHex: `${'b'.repeat(63)}1`,
}

async function measure(start: () => Promise<PdsProcess>, appView: BenchAppView): Promise<Measured> {
  const pds = await start()
  try {
    log(`${pds.name} (pid ${pds.pid}) at ${pds.url}`)
    const rssIdleMb = pds.rssMb()
    const results = await runWorkload(pds.url, log)
    // Let the servers finish background work (blob moves, sequencer) before reading memory.
    await new Promise((r) => setTimeout(r, 500))
    const rssAfterMb = pds.rssMb()
    // After the memory reading, so that rss_after_load keeps meaning the main workload alone.
    const sync = await runSyncWorkload(pds.url, log)
    const proxy = await runProxyWorkload(pds.url, appView, log)
    return { ...results, ...sync, ...proxy, rssIdleMb, rssAfterMb }
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
    officialWhy = await ensureOfficial(log)
    if (officialWhy === null) {
      try {
        official = await measure(() => startOfficialProcess(plc.url, SECRETS, appView.env), appView)
      } catch (err) {
        officialWhy = `official PDS run failed: ${errorText(err)}`
      }
    }
    try {
      hearth = await measure(() => startHearthProcess(plc.url, SECRETS, appView.env), appView)
    } catch (err) {
      hearthWhy = errorText(err)
    }
  } finally {
    await plc.close()
    await appView.close()
  }
  log(`server benchmark took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  if (officialWhy) log(`server rows: no reference figures (@atproto/pds@${OFFICIAL_VERSION}): ${officialWhy}`)
  if (!hearth) {
    log(`server rows left out: Hearth could not run the workload: ${hearthWhy}`)
    return []
  }
  const h = hearth
  const o = official
  const note = officialWhy ?? undefined
  const row = (name: string, pick: (m: Measured) => number | null, unit: string, higherIsBetter: boolean): Row | null => {
    const hv = pick(h)
    if (hv === null) return null
    return { name: `server_${name}`, hearth: hv, reference: o ? pick(o) : null, unit, higherIsBetter, note }
  }
  const c = COUNTS
  const rows = [
    row('create_record_seq', (m) => m.createSeqOps, 'ops/s', true),
    row('create_record_seq_p50', (m) => m.createSeqP50, 'ms', false),
    row('create_record_seq_p99', (m) => m.createSeqP99, 'ms', false),
    row(`create_record_${c.concurrentClients}_clients`, (m) => m.createConcOps, 'ops/s', true),
    row(`create_record_${c.concurrentClients}_clients_p99`, (m) => m.createConcP99, 'ms', false),
    row(`apply_writes_${c.applyWritesBatch}_creates`, (m) => m.applyWritesOps, 'calls/s', true),
    row('get_record', (m) => m.getRecordOps, 'ops/s', true),
    row('list_records_100', (m) => m.listRecordsOps, 'ops/s', true),
    row('upload_blob_1mib', (m) => m.uploadBlobMBps, 'MB/s', true),
    row('get_repo_10k', (m) => m.getRepoMs, 'ms', false),
    row('get_repo_10k_mbps', (m) => m.getRepoMBps, 'MB/s', true),
    row(`firehose_fanout_${SYNC_COUNTS.subscribers}`, (m) => m.firehoseEventsPerSec, 'events/s', true),
    row(`firehose_fanout_${SYNC_COUNTS.subscribers}_p50`, (m) => m.firehoseP50, 'ms', false),
    row(`firehose_fanout_${SYNC_COUNTS.subscribers}_p99`, (m) => m.firehoseP99, 'ms', false),
    row(`proxy_get_timeline_${PROXY_COUNTS.clients}_clients`, (m) => m.proxyTimelineOps, 'req/s', true),
    row(`proxy_get_timeline_${PROXY_COUNTS.clients}_clients_p99_added`, (m) => m.proxyTimelineP99Added, 'ms', false),
    row('rss_idle', (m) => m.rssIdleMb, 'MB', false),
    row('rss_after_load', (m) => m.rssAfterMb, 'MB', false),
  ]
  return rows.filter((r): r is Row => r !== null)
}
