import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { closeServer, isClosing } from '../../src/xrpc/shutdown.ts'
import { silentLogger } from '../../src/logger.ts'
import { createXrpcServer } from '../../src/xrpc/server.ts'

function get(port: number, path: string, agent?: import('node:http').Agent): Promise<{ status: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

test('closeServer lets in-flight requests finish, closes idle keep-alive sockets, then resolves', async () => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const server = createServer(async (req, res) => {
    if (req.url === '/slow') await gate
    res.end(`done ${req.url}`)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  const { Agent } = await import('node:http')
  const agent = new Agent({ keepAlive: true })
  try {
    // An idle keep-alive connection...
    assert.equal((await get(port, '/fast', agent)).body, 'done /fast')
    // ...and one busy with a request.
    const slow = get(port, '/slow')
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    const closed = closeServer(server, 5_000)
    assert.ok(isClosing(server))
    await new Promise((r) => setTimeout(r, 100))
    release()
    const answer = await slow
    assert.equal(answer.body, 'done /slow')
    await closed
    assert.ok(Date.now() - started < 2_000, 'did not wait for the keep-alive timeout')
    assert.equal(server.listening, false)
    // New connections are refused.
    await assert.rejects(get(port, '/fast'))
  } finally {
    agent.destroy()
  }
})

test('closeServer force-closes what is still open after the timeout', async () => {
  const server = createServer(() => {
    // never answers
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  const hung = get(port, '/hang').then(
    () => 'answered',
    () => 'cut',
  )
  await new Promise((r) => setTimeout(r, 50))
  const started = Date.now()
  await closeServer(server, 200)
  const waited = Date.now() - started
  assert.ok(waited >= 150 && waited < 2_000, `waited ${waited} ms`)
  assert.equal(await hung, 'cut')
  // Closing again (or a server that never listened) is harmless.
  await closeServer(server, 10)
  await closeServer(createServer(), 10)
})

test('XrpcServer.close answers in-flight calls with Connection: close and stops', async () => {
  const server = createXrpcServer({ logger: silentLogger })
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  server.addRoute('GET', '/slow', async ({ res }) => {
    await gate
    res.end('ok')
  })
  const { port } = await server.listen(0, '127.0.0.1')
  const pending = get(port, '/slow')
  await new Promise((r) => setTimeout(r, 50))
  const closed = server.close(5_000)
  release()
  const res = await pending
  assert.equal(res.body, 'ok')
  await closed
  assert.equal(server.httpServer.listening, false)
})
