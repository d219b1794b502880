import assert from 'node:assert/strict'
import { test } from 'node:test'
import { registerBasicRoutes } from '../../src/http/basic-routes.ts'
import { silentLogger } from '../../src/logger.ts'
import { createXrpcServer } from '../../src/xrpc/server.ts'
import { listen } from '../helpers/net.ts'

async function start(check?: () => void | Promise<void>) {
  const server = createXrpcServer({ logger: silentLogger })
  registerBasicRoutes(server, { version: '1.2.3', check })
  return listen(server.httpServer)
}

test('GET / is a plain-text page saying what this is', async () => {
  const net = await start()
  try {
    const res = await fetch(`${net.url}/`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8')
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const text = await res.text()
    assert.match(text, /This is an AT Protocol Personal Data Server/)
    assert.match(text, /Most API routes are under \/xrpc\//)
  } finally {
    await net.close()
  }
})

test('GET /robots.txt allows crawling', async () => {
  const net = await start()
  try {
    const res = await fetch(`${net.url}/robots.txt`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), '# Hello!\n\n# Crawling the public API is allowed\nUser-agent: *\nAllow: /')
  } finally {
    await net.close()
  }
})

test('GET /xrpc/_health reports the version; 503 when the check fails', async () => {
  let healthy = true
  const net = await start(async () => {
    if (!healthy) throw new Error('database is locked')
  })
  try {
    const ok = await fetch(`${net.url}/xrpc/_health`)
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { version: '1.2.3' })
    healthy = false
    const down = await fetch(`${net.url}/xrpc/_health`)
    assert.equal(down.status, 503)
    const body = await down.text()
    assert.deepEqual(JSON.parse(body), { version: '1.2.3', error: 'Service Unavailable' })
    assert.doesNotMatch(body, /locked/)
    // HEAD works too, and other verbs are not routes.
    assert.equal((await fetch(`${net.url}/xrpc/_health`, { method: 'HEAD' })).status, 503)
    const post = await fetch(`${net.url}/xrpc/_health`, { method: 'POST' })
    assert.equal(post.status, 400) // an XRPC path with an invalid NSID
    await post.text()
  } finally {
    await net.close()
  }
})
