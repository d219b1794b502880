// Request logs: one JSON line per request with a request id, method, path, status, latency and
// the client's address, secrets never in it.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { configureLogging, loggingConfig } from '../../src/logger.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds
const lines: string[] = []
const saved = loggingConfig()
before(async () => {
  pds = await startTestPds()
  configureLogging({ enabled: true, level: 'info', systems: [], destination: null }, { write: (l) => lines.push(l) })
})
after(async () => {
  configureLogging(saved, { write: (l) => process.stderr.write(l) })
  await pds.close()
})

test('each request is logged as structured JSON with its id, method, status, latency and client IP', async () => {
  const auth = `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`
  await fetch(new URL('/xrpc/_health', pds.url))
  await fetch(new URL('/xrpc/com.atproto.admin.getAccountInfos?dids=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', pds.url), { headers: { authorization: auth } })
  await new Promise((r) => setTimeout(r, 50))
  const entries = lines
    .map((l) => JSON.parse(l) as { msg: string; req?: { id: number; method: string; path: string; remoteAddress: string }; res?: { statusCode: number }; responseTime?: number })
    .filter((e) => e.msg === 'request completed')
  const health = entries.find((e) => e.req?.path === '/xrpc/_health')
  assert.ok(health, `no line for /xrpc/_health in ${lines.join('')}`)
  assert.equal(health.req?.method, 'GET')
  assert.equal(health.res?.statusCode, 200)
  assert.equal(typeof health.responseTime, 'number')
  assert.match(health.req?.remoteAddress ?? '', /127\.0\.0\.1/)
  const ids = entries.map((e) => e.req?.id)
  assert.equal(new Set(ids).size, ids.length, 'request ids repeat')
  assert.ok(!lines.join('').includes(pds.adminPassword), 'the admin password reached the log')
})
