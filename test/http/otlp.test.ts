// OTLP push: the same metrics, under the same names, sent to an OTLP/HTTP receiver (here a
// plain HTTP server in the test standing for a collector).
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import { accountCreated, observeRequest, startOtlpPush } from '../../src/metrics/index.ts'

interface OtlpMetric {
  name: string
  sum?: { isMonotonic: boolean; dataPoints: Array<{ asDouble?: number; attributes: Array<{ key: string; value: { stringValue?: string } }> }> }
  histogram?: { dataPoints: Array<{ count: string | number; explicitBounds: number[]; bucketCounts: Array<string | number> }> }
  gauge?: unknown
}

let server: Server | undefined
let stop: (() => Promise<void>) | undefined
after(async () => {
  await stop?.()
  server?.close()
})

test('metrics are pushed over OTLP/HTTP with the official names', async () => {
  const bodies: Array<{ contentType: string; body: string }> = []
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      bodies.push({ contentType: String(req.headers['content-type']), body })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  accountCreated.inc({ source: 'com.atproto.server.createAccount', deactivated: 'false' })
  observeRequest('GET', '/xrpc/_health', 200, 0.003)
  stop = await startOtlpPush({ url: `http://127.0.0.1:${port}/v1/metrics`, intervalMs: 100, serviceVersion: 'test' })
  for (let i = 0; i < 100 && bodies.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
  assert.ok(bodies.length > 0, 'nothing was pushed')
  assert.match(bodies[0].contentType, /application\/json/)
  const payload = JSON.parse(bodies[0].body) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: OtlpMetric[] }> }> }
  const metrics = new Map(payload.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)).map((m) => [m.name, m]))
  const created = metrics.get('account_created_total')
  assert.ok(created?.sum?.isMonotonic, 'account_created_total is a monotonic sum')
  const xrpc = created.sum.dataPoints.find((p) => p.attributes.some((a) => a.key === 'source' && a.value.stringValue === 'com.atproto.server.createAccount'))
  assert.ok(xrpc && (xrpc.asDouble ?? 0) >= 1)
  const duration = metrics.get('http_server_request_duration_seconds')
  assert.ok(duration?.histogram, 'the request histogram is an OTLP histogram')
  const point = duration.histogram.dataPoints[0]
  assert.ok(Number(point.count) >= 1)
  assert.equal(point.bucketCounts.length, point.explicitBounds.length + 1)
  assert.equal(point.bucketCounts.reduce((a: number, c) => a + Number(c), 0), Number(point.count))
  for (const name of ['session_created_total', 'oauth_authorization_total', 'hearth_commits_total']) assert.ok(metrics.has(name), `${name} missing`)
})

test('hearth serve pushes when OTEL_EXPORTER_OTLP_ENDPOINT is set, and flushes on SIGTERM', async () => {
  const { spawn } = await import('node:child_process')
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const path = await import('node:path')
  const { fileURLToPath } = await import('node:url')
  const paths: string[] = []
  const receiver = createServer((req, res) => {
    paths.push(req.url ?? '')
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  const data = mkdtempSync(path.join(tmpdir(), 'hearth-otlp-'))
  const child = spawn(process.execPath, [fileURLToPath(new URL('../../bin/hearth.js', import.meta.url)), 'serve'], {
    cwd: data,
    env: {
      PATH: process.env.PATH ?? '',
      PDS_PORT: '0',
      PDS_DATA_DIRECTORY: data,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  try {
    for (let i = 0; i < 200 && paths.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(paths.length > 0, `nothing pushed: ${output}`)
    assert.equal(paths[0], '/v1/metrics')
    assert.match(output, /Pushing metrics over OTLP every 0\.2 s/)
  } finally {
    child.kill('SIGTERM')
    assert.equal(await exited, 0, output)
    receiver.close()
    rmSync(data, { recursive: true, force: true })
  }
})
