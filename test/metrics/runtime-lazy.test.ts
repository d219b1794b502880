// The runtime metrics (event-loop delay monitors, GC observer, prom-client's default collectors)
// start at the first scrape, not with the server: an idle server nobody scrapes keeps no 10 ms
// timers and no native histograms. The first scrape still reports every runtime family.
// Node's test runner gives each file its own process, so nothing has scraped before this file.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { registry } from '../../src/metrics/index.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(() => pds.close())

const RUNTIME = ['nodejs_eventloop_delay_p99_seconds', 'nodejs_eventloop_utilization_ratio', 'v8js_memory_heap_used_bytes', 'nodejs_eventloop_lag_seconds', 'process_cpu_seconds_total']

async function scrape(): Promise<string> {
  const res = await fetch(new URL('/metrics', pds.url), {
    headers: { authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}` },
  })
  assert.equal(res.status, 200)
  return res.text()
}

test('a running server has not started the runtime metrics before it is scraped; the first scrape has them all', async () => {
  // Requests other than a scrape do not start them either.
  assert.equal((await fetch(new URL('/xrpc/com.atproto.server.describeServer', pds.url))).status, 200)
  for (const name of RUNTIME) assert.equal(registry.getSingleMetric(name), undefined, `${name} registered before any scrape`)
  const first = await scrape()
  for (const name of RUNTIME) {
    assert.ok(registry.getSingleMetric(name), `${name} not registered by the first scrape`)
    assert.match(first, new RegExp(`^# TYPE ${name} `, 'm'), `${name} missing from the first scrape`)
  }
  // Started once: a second scrape neither fails on duplicate registration nor loses a family.
  const second = await scrape()
  for (const name of RUNTIME) assert.match(second, new RegExp(`^# TYPE ${name} `, 'm'))
})
