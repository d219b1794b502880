import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AuthResult } from '../../src/xrpc/auth-result.ts'
import { silentLogger } from '../../src/logger.ts'
import { MemoryRateLimiter, tightest } from '../../src/xrpc/rate-limiter.ts'
import { createXrpcServer, type XrpcServerOptions } from '../../src/xrpc/server.ts'
import { listen } from '../helpers/net.ts'
import { DID, json } from './fixture.ts'

const none = (): AuthResult => ({ kind: 'none' })
const access = (): AuthResult => ({ kind: 'access', did: DID, scope: 'com.atproto.access', appPasswordName: null })

async function start(opts: XrpcServerOptions) {
  const server = createXrpcServer({ logger: silentLogger, ...opts })
  server.register({
    nsid: 'com.atproto.server.createSession',
    auth: none,
    rateLimits: [
      { name: 'createSession-day', durationMs: 24 * 3600_000, points: 300 },
      { name: 'createSession-5min', durationMs: 5 * 60_000, points: 2 },
    ],
    handler: () => ({ encoding: 'application/json', body: {} }),
  })
  // Two methods sharing one write budget, with different costs, keyed by DID.
  const writeLimits = (cost: number) => [
    { name: 'repo-write-hour', durationMs: 3600_000, points: 5, key: () => DID, cost: () => cost },
  ]
  server.register({
    nsid: 'com.atproto.repo.createRecord',
    auth: access,
    rateLimits: writeLimits(3),
    handler: () => undefined,
  })
  server.register({
    nsid: 'com.atproto.repo.deleteRecord',
    auth: access,
    rateLimits: writeLimits(1),
    handler: () => undefined,
  })
  server.register({
    nsid: 'com.atproto.repo.describeRepo',
    auth: none,
    // A null key skips the limit.
    rateLimits: [{ name: 'never', durationMs: 60_000, points: 1, key: () => null }],
    handler: () => ({ encoding: 'application/json', body: {} }),
  })
  const net = await listen(server.httpServer)
  return { server, net, url: net.url }
}

const createSession = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/xrpc/com.atproto.server.createSession`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ identifier: 'alice', password: 'pw' }),
  })

test('method limits: the tightest status in headers, then 429 RateLimitExceeded', async () => {
  const { net, url } = await start({ rateLimits: { enabled: true } })
  try {
    const first = await createSession(url)
    assert.equal(first.status, 200)
    await first.text()
    assert.equal(first.headers.get('ratelimit-limit'), '2')
    assert.equal(first.headers.get('ratelimit-remaining'), '1')
    assert.equal(first.headers.get('ratelimit-policy'), '2;w=300')
    const reset = Number(first.headers.get('ratelimit-reset'))
    const now = Math.floor(Date.now() / 1000)
    assert.ok(reset >= now + 298 && reset <= now + 301, `reset ${reset} vs now ${now}`)

    const second = await createSession(url)
    assert.equal(second.status, 200)
    await second.text()
    assert.equal(second.headers.get('ratelimit-remaining'), '0')

    const third = await createSession(url)
    assert.equal(third.status, 429)
    assert.deepEqual(await json(third), { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' })
    assert.equal(third.headers.get('ratelimit-limit'), '2')
    assert.equal(third.headers.get('ratelimit-remaining'), '0')

    // The bypass key header skips every limit.
    const bypassed = await createSession(url, { 'x-ratelimit-bypass': 'wrong' })
    assert.equal(bypassed.status, 429)
    await bypassed.text()
  } finally {
    await net.close()
  }
})

test('the bypass key and bypass IPs skip limits', async () => {
  const a = await start({ rateLimits: { enabled: true, bypassKey: 'let-me-in', global: [{ name: 'g', durationMs: 60_000, points: 1 }] } })
  try {
    for (let i = 0; i < 4; i++) {
      const res = await createSession(a.url, { 'x-ratelimit-bypass': 'let-me-in' })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('ratelimit-limit'), null)
      await res.text()
    }
  } finally {
    await a.net.close()
  }
  const b = await start({ rateLimits: { enabled: true, bypassIps: ['127.0.0.0/8'], global: [{ name: 'g', durationMs: 60_000, points: 1 }] } })
  try {
    for (let i = 0; i < 4; i++) {
      const res = await createSession(b.url)
      assert.equal(res.status, 200)
      await res.text()
    }
  } finally {
    await b.net.close()
  }
})

test('limits with one name share a counter across methods, each call paying its cost', async () => {
  const { net, url } = await start({ rateLimits: { enabled: true } })
  try {
    const create = () => fetch(`${url}/xrpc/com.atproto.repo.createRecord`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record: {} }),
    })
    const del = () => fetch(`${url}/xrpc/com.atproto.repo.deleteRecord`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', rkey: 'x' }),
    })
    const r1 = await create() // 3 of 5
    assert.equal(r1.status, 200)
    assert.equal(r1.headers.get('ratelimit-remaining'), '2')
    const r2 = await del() // 4 of 5
    assert.equal(r2.status, 200)
    assert.equal(r2.headers.get('ratelimit-remaining'), '1')
    const r3 = await create() // 7 of 5: refused
    assert.equal(r3.status, 429)
    await r3.text()
  } finally {
    await net.close()
  }
})

test('the global per-IP limit covers registered and unregistered NSIDs; a null key skips a limit', async () => {
  const { net, url } = await start({ rateLimits: { enabled: true, global: [{ name: 'global-ip', durationMs: 60_000, points: 3 }] } })
  try {
    const a = await fetch(`${url}/xrpc/com.atproto.repo.describeRepo?repo=a.test`)
    assert.equal(a.status, 200)
    assert.equal(a.headers.get('ratelimit-limit'), '3')
    assert.equal(a.headers.get('ratelimit-remaining'), '2')
    await a.text()
    const b = await fetch(`${url}/xrpc/com.example.unknown`)
    assert.equal(b.status, 501)
    assert.equal(b.headers.get('ratelimit-remaining'), '1')
    await b.text()
    await (await fetch(`${url}/xrpc/com.atproto.repo.describeRepo?repo=a.test`)).text()
    const d = await fetch(`${url}/xrpc/com.atproto.repo.describeRepo?repo=a.test`)
    assert.equal(d.status, 429)
    await d.text()
    // Plain routes are not XRPC calls and are not limited.
    const e = await fetch(`${url}/whatever`)
    assert.equal(e.status, 404)
    await e.text()
  } finally {
    await net.close()
  }
})

test('rate limits are off unless enabled (per-method limits included)', async () => {
  const { net, url } = await start({})
  try {
    for (let i = 0; i < 4; i++) {
      const res = await createSession(url)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('ratelimit-limit'), null)
      await res.text()
    }
  } finally {
    await net.close()
  }
})

test('a limit name declared twice with different numbers is a registration error', () => {
  const server = createXrpcServer({ logger: silentLogger, rateLimits: { enabled: true } })
  server.register({
    nsid: 'com.atproto.repo.createRecord',
    auth: none,
    rateLimits: [{ name: 'shared', durationMs: 1000, points: 1 }],
    handler: () => undefined,
  })
  assert.throws(
    () =>
      server.register({
        nsid: 'com.atproto.repo.putRecord',
        auth: none,
        rateLimits: [{ name: 'shared', durationMs: 1000, points: 2 }],
        handler: () => undefined,
      }),
    /declared twice/,
  )
})

test('MemoryRateLimiter: fixed windows per key, refusals counted, expired keys swept', () => {
  const limiter = new MemoryRateLimiter('t', 1000, 2)
  const t0 = 1_000_000
  assert.deepEqual(limiter.consume('a', 1, t0), { limit: 2, windowSeconds: 1, remaining: 1, msBeforeNext: 1000, exceeded: false })
  assert.equal(limiter.consume('a', 1, t0 + 10).remaining, 0)
  const refused = limiter.consume('a', 1, t0 + 20)
  assert.equal(refused.exceeded, true)
  assert.equal(refused.msBeforeNext, 980)
  assert.equal(limiter.consume('b', 1, t0 + 20).exceeded, false) // keys are separate
  // A new window opens once the old one closes.
  assert.equal(limiter.consume('a', 1, t0 + 1000).exceeded, false)
  assert.equal(limiter.size, 2)
  limiter.consume('c', 1, t0 + 5000)
  assert.equal(limiter.size, 1) // a and b expired and were swept
  assert.equal(tightest([]), null)
  const s1 = { limit: 5, windowSeconds: 1, remaining: 3, msBeforeNext: 1, exceeded: false }
  const s2 = { limit: 9, windowSeconds: 1, remaining: 1, msBeforeNext: 1, exceeded: false }
  const s3 = { limit: 9, windowSeconds: 1, remaining: 0, msBeforeNext: 1, exceeded: true }
  assert.equal(tightest([s1, s2]), s2)
  assert.equal(tightest([s1, s3, s2]), s3)
})

test('xrpcOptionsFromConfig carries the rate-limit, upload, validation and stream stall settings', async () => {
  const { loadConfig } = await import('../../src/config/index.ts')
  const { xrpcOptionsFromConfig } = await import('../../src/xrpc/server.ts')
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const path = await import('node:path')
  const cwd = mkdtempSync(path.join(tmpdir(), 'hearth-xrpc-'))
  try {
    const cfg = loadConfig(
      { PDS_RATE_LIMITS_ENABLED: 'true', PDS_RATE_LIMIT_BYPASS_IPS: '10.0.0.0/8', PDS_BLOB_UPLOAD_LIMIT: '1000', PDS_DEV_MODE: 'true', HEARTH_STREAM_STALL_MS: '5000' },
      { cwd },
    )
    assert.deepEqual(xrpcOptionsFromConfig(cfg), {
      validateResponses: true,
      streamStallMs: 5000,
      blobLimit: 1000,
      rateLimits: { enabled: true, bypassKey: null, bypassIps: ['10.0.0.0/8'] },
    })
  } finally {
    rmSync(cwd, { recursive: true, force: true })
  }
})
