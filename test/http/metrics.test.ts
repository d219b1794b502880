// /metrics: the Prometheus exposition, behind the admin password, parsed with a Prometheus text
// parser; the official PDS's metric names are there and move when accounts and sessions are made.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { after, before, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { backupDataDirectory, dataLayout } from '../../src/admin/backup.ts'
import { registry } from '../../src/metrics/index.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

interface Sample {
  value?: string
  count?: string
  labels?: Record<string, string>
}
interface Family {
  name: string
  type: string
  metrics: Sample[]
}
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(() => pds.close())

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(new URL('/metrics', pds.url), {
    headers: { authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}` },
  })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return new Map(parse(await res.text()).map((f) => [f.name, f]))
}

// The text parser folds a labelled histogram's series into one, so the per-route count is read
// from prom-client's own registry (the one /metrics exposes; the server runs in this process).
async function requestCount(): Promise<number> {
  const metric = registry.getSingleMetric('http_server_request_duration_seconds')
  assert.ok(metric)
  const { values } = await metric.get()
  const count = values.find(
    (v) =>
      (v as { metricName?: string }).metricName === 'http_server_request_duration_seconds_count' &&
      v.labels.http_route === '/xrpc/com.atproto.server.createSession' &&
      v.labels.http_request_method === 'POST' &&
      String(v.labels.http_response_status_code) === '200',
  )
  return count?.value ?? 0
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name)
  assert.ok(family, `${name} is not exposed`)
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  if (!sample) return 0
  return Number(sample.value ?? sample.count)
}

test('/metrics refuses without the admin password', async () => {
  const none = await fetch(new URL('/metrics', pds.url))
  assert.equal(none.status, 401)
  const wrong = await fetch(new URL('/metrics', pds.url), {
    headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
  })
  assert.equal(wrong.status, 401)
  assert.equal(((await wrong.json()) as { error: string }).error, 'AuthenticationRequired')
})

test('the disk blob store size is reported', async () => {
  // The disk blob store's size is measured in the background when a scrape asks for it (the
  // first scrape of this server starts the walk; later ones report it).
  const { agent } = await pds.createAccount('blobs')
  await agent.com.atproto.repo.uploadBlob(new Uint8Array(50_000).fill(7), { encoding: 'application/octet-stream' })
  let blobBytes = 0
  for (let i = 0; i < 50 && blobBytes < 50_000; i++) {
    blobBytes = value(await scrape(), 'hearth_blob_store_bytes')
    if (blobBytes < 50_000) await new Promise((r) => setTimeout(r, 50))
  }
  assert.ok(blobBytes >= 50_000, `hearth_blob_store_bytes is ${blobBytes}`)

})

test('the time of the last backup is reported', async () => {
  // 0 before the first (so an alert on its age fires for a server never backed up).
  assert.equal(value(await scrape(), 'hearth_backup_last_timestamp_seconds'), 0)
  const dest = path.join(mkdtempSync(path.join(tmpdir(), 'hearth-metrics-backup-')), 'b')
  try {
    const started = Date.now() / 1000
    backupDataDirectory(dataLayout(pds.hearth.config), dest)
    const at = value(await scrape(), 'hearth_backup_last_timestamp_seconds')
    assert.ok(at >= started - 1 && at <= Date.now() / 1000 + 1, `backup time ${at}`)
  } finally {
    rmSync(path.dirname(dest), { recursive: true, force: true })
  }
})

// The names and labels the official PDS 0.5 reports through OpenTelemetry, as Prometheus's OTLP
// receiver translates them (dots to underscores, unit and _total suffixes): what the official
// monitoring dashboard (bluesky-social/pds monitoring/dashboards/pds-overview.json) queries.
const OFFICIAL_FAMILIES = [
  'account_created_total',
  'session_created_total',
  'oauth_authorization_total',
  'http_server_request_duration_seconds',
  'nodejs_eventloop_utilization_ratio',
  ...['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((s) => `nodejs_eventloop_delay_${s}_seconds`),
  'v8js_memory_heap_limit_bytes',
  'v8js_memory_heap_used_bytes',
  'v8js_memory_heap_space_size_bytes',
  'v8js_memory_heap_space_available_size_bytes',
  'v8js_memory_heap_space_physical_size_bytes',
]

test('the official names are exposed and move with createAccount and createSession', async () => {
  const before = await scrape()
  const requestsBefore = await requestCount()
  for (const name of [...OFFICIAL_FAMILIES, 'hearth_commits_total', 'hearth_firehose_subscribers', 'hearth_sqlite_bytes']) {
    assert.ok(before.has(name), `${name} is missing`)
  }
  assert.equal(before.get('http_server_request_duration_seconds')?.type, 'HISTOGRAM')
  assert.ok(value(before, 'hearth_sqlite_bytes', { db: 'account' }) > 0)
  const utilization = value(before, 'nodejs_eventloop_utilization_ratio')
  assert.ok(utilization >= 0 && utilization <= 1, `utilization ${utilization}`)
  // Per V8 heap space, as the official's runtime instrumentation reports them.
  const spaces = before.get('v8js_memory_heap_used_bytes')?.metrics ?? []
  assert.ok(spaces.some((m) => m.labels?.v8js_heap_space_name === 'old_space'), 'no old_space series')
  assert.ok(spaces.reduce((sum, m) => sum + Number(m.value), 0) > 1_000_000)
  assert.ok(value(before, 'v8js_memory_heap_limit_bytes') > 0)

  const { handle, password } = await pds.createAccount('metrics')
  await pds.agent().login({ identifier: handle, password })
  const afterwards = await scrape()
  const delta = (name: string, labels: Record<string, string> = {}) => value(afterwards, name, labels) - value(before, name, labels)
  // The official's label values: the XRPC method as the source, and whether the account was
  // created deactivated (a migration in).
  assert.equal(delta('account_created_total', { source: 'com.atproto.server.createAccount', deactivated: 'false' }), 1)
  assert.equal(delta('session_created_total', { source: 'com.atproto.server.createAccount' }), 1)
  assert.equal(delta('session_created_total', { source: 'com.atproto.server.createSession' }), 1)
  assert.ok(delta('hearth_commits_total') >= 1, 'the new repo commit was not counted')
  assert.equal((await requestCount()) - requestsBefore, 1)
  // Labels come from registered routes only: a random path does not make a series of its own.
  await fetch(new URL('/no/such/path/8f3a', pds.url))
  const text = await (
    await fetch(new URL('/metrics', pds.url), {
      headers: { authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}` },
    })
  ).text()
  assert.ok(!text.includes('8f3a'), 'a raw path became a label')
})

test('the request histogram has the official buckets (stable HTTP semantic conventions)', async () => {
  const metric = registry.getSingleMetric('http_server_request_duration_seconds')
  assert.ok(metric)
  const { values } = await metric.get()
  const les = new Set(values.filter((v) => (v as { metricName?: string }).metricName?.endsWith('_bucket')).map((v) => String(v.labels.le)))
  assert.deepEqual([...les], ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1', '2.5', '5', '7.5', '10', '+Inf'])
})
