// What an idle `hearth serve` holds once it has started: not the young generation start-up grew
// (a memory-reducing collection once listening, off the request path), nor the lexicon
// validator (loaded by the first request that needs it), nor prom-client (loaded by the first
// scrape, which still reports what was counted before it), nor @noble/curves (the pure-JS curve
// backend, loaded only where the native ones cannot serve), nor @atproto/syntax (the first check
// of an identifier), nor ws (the first subscribeRepos), nor the secp256k1 binding (the first
// signature made or checked).
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { BENCH_SECRETS, startHearthTree } from '../../bench/server/processes.ts'
import { buildBundle } from '../helpers/hearth-process.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('hearth serve, started as npm start starts it, has given back the young generation by the time it answers, without the lexicon validator, prom-client, @noble/curves, @atproto/syntax, ws or the secp256k1 binding loaded', async () => {
  buildBundle()
  const out = join(tmpdir(), `hearth-startup-probe-${process.pid}.json`)
  rmSync(out, { force: true })
  const probeModule = fileURLToPath(new URL('../../bench/server/memory-probe.cjs', import.meta.url))
  // Nothing listens on the PLC URL: an idle server never asks it.
  const pds = await startHearthTree(ROOT, 'http://127.0.0.1:9', {
    env: { HMEM_OUT: out, HMEM_PACKAGES: 'prom-client,@noble/curves,@atproto/syntax,ws,secp256k1' },
    nodeArgs: ['--require', probeModule],
  })
  type Probe = { spaces: Record<string, number>; lexiconLoaded: boolean; packages: Record<string, boolean> }
  const probe = async (): Promise<Probe> => {
    rmSync(out, { force: true })
    process.kill(pds.pid, 'SIGUSR2')
    for (let i = 0; i < 250 && !existsSync(out); i++) await sleep(20)
    await sleep(50)
    return JSON.parse(readFileSync(out, 'utf8')) as Probe
  }
  try {
    const idle = await probe()
    // Start-up grows the new space to its 2 MB semi-spaces (~4 MB resident); given back, it is
    // under 1 MB.
    assert.ok(idle.spaces.new_space! < 2048, `new space ${idle.spaces.new_space} KB resident`)
    // Routing and answering describeServer (which the harness asked) need no lexicon validator.
    // The ES-module packages load on first use only where Node can require() them (20.19 /
    // 22.12 on); an older Node loads them at start, as package.json's engines still allow.
    const lazy = (process.features as { require_module?: boolean }).require_module === true
    assert.equal(idle.lexiconLoaded, !lazy, `@atproto/lexicon ${lazy ? 'is not' : 'is'} loaded by an idle server`)
    assert.deepEqual(idle.packages, { 'prom-client': false, '@noble/curves': !lazy, '@atproto/syntax': !lazy, ws: false, secp256k1: false })
    // Requests are counted without prom-client; the first scrape loads it and reports them.
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${pds.url}/xrpc/com.atproto.server.describeServer`)).status, 200)
    const scrape = await fetch(`${pds.url}/metrics`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${BENCH_SECRETS.adminPassword}`).toString('base64')}` },
    })
    assert.equal(scrape.status, 200)
    const text = await scrape.text()
    const served = /^http_server_request_duration_seconds_count\{http_request_method="GET",http_route="\/xrpc\/com\.atproto\.server\.describeServer",http_response_status_code="200"\} (\d+)$/m.exec(text)
    assert.ok(served && Number(served[1]) >= 3, `describeServer count in the first scrape: ${served?.[1]}`)
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1])
    for (const name of [
      'account_created_total',
      'session_created_total',
      'oauth_authorization_total',
      'http_server_request_duration_seconds',
      'hearth_commits_total',
      'hearth_firehose_subscribers',
      'hearth_sqlite_bytes',
      'hearth_blob_store_bytes',
      'hearth_backup_last_timestamp_seconds',
      'nodejs_eventloop_delay_p99_seconds',
      'process_cpu_seconds_total',
      'v8js_memory_heap_used_bytes',
    ]) {
      assert.ok(families.includes(name), `${name} missing from the first scrape`)
    }
    // A parameter check loads @atproto/syntax (the same answer as before: the repo is not a DID or handle).
    const described = await fetch(`${pds.url}/xrpc/com.atproto.repo.describeRepo?repo=not_a_repo`)
    assert.equal(described.status, 400)
    assert.deepEqual(await described.json(), { error: 'InvalidRequest', message: 'Error: repo must be a valid did or a handle' })
    // The first subscription loads ws and is served.
    const sub = new WebSocket(`${pds.url.replace('http', 'ws')}/xrpc/com.atproto.sync.subscribeRepos`)
    await new Promise<void>((resolve, reject) => {
      sub.once('open', () => resolve())
      sub.once('error', reject)
    })
    sub.close()
    // Nothing so far signed or verified a signature: the secp256k1 binding is still not loaded.
    assert.deepEqual((await probe()).packages, { 'prom-client': true, '@noble/curves': !lazy, '@atproto/syntax': true, ws: true, secp256k1: false })
    // The first request that needs it loads it, and is answered as before.
    const res = await fetch(`${pds.url}/xrpc/com.atproto.server.createSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'x' }),
    })
    assert.equal(res.status, 400)
    assert.deepEqual(await res.json(), { error: 'InvalidRequest', message: 'Input must have the property "identifier"' })
    assert.equal((await probe()).lexiconLoaded, true)
  } finally {
    await pds.stop()
    rmSync(out, { force: true })
  }
})
