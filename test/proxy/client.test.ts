// The proxy's HTTP client on its own against a loopback server: PDS_PROXY_MAX_RETRIES (GET and
// HEAD sent again after a socket error, as the official's undici RetryAgent; never a POST, never
// after an answer) and dropping the upstream request when the caller's signal aborts.
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { subsystemLogger } from '../../src/logger.ts'
import { ProxyClient, readResponseBody } from '../../src/proxy/upstream.ts'
import { XrpcError } from '../../src/errors.ts'

describe('proxy client', () => {
  let server: http.Server
  let target: { did: string; url: string; trusted: boolean }
  // How many of the next requests get their connection cut before any answer.
  let dropNext = 0
  let seen: Array<{ method: string; url: string; closedEarly?: boolean }> = []

  before(async () => {
    server = http.createServer((req, res) => {
      const entry: { method: string; url: string; closedEarly?: boolean } = { method: req.method ?? '', url: req.url ?? '' }
      seen.push(entry)
      req.resume()
      if (dropNext > 0) {
        dropNext--
        req.socket.destroy()
        return
      }
      if (req.url?.startsWith('/hang')) {
        res.on('close', () => {
          entry.closedEarly = !res.writableFinished
        })
        return
      }
      res.writeHead(req.url?.startsWith('/fail') ? 503 : 200, { 'content-type': 'application/json' }).end('{"ok":true}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    target = { did: 'did:web:upstream.test', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, trusted: true }
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const client = (maxRetries: number) =>
    new ProxyClient({
      allowPrivate: true,
      headersTimeoutMs: 2000,
      bodyTimeoutMs: 2000,
      maxResponseSize: 1 << 20,
      logger: subsystemLogger('test:proxy'),
      maxRetries,
      retryDelayMs: 20,
    })

  const isUnreachable = (err: unknown) => err instanceof XrpcError && err.status === 502 && err.message === 'Upstream service unreachable'

  it('retries a GET cut off before its answer, up to PDS_PROXY_MAX_RETRIES times', async () => {
    const c = client(2)
    try {
      seen = []
      dropNext = 2
      const res = await c.request(target, { method: 'GET', path: '/x', headers: {} })
      assert.equal((await readResponseBody(res, 1 << 20)).toString(), '{"ok":true}')
      assert.equal(seen.length, 3)
      seen = []
      dropNext = 3
      await assert.rejects(c.request(target, { method: 'HEAD', path: '/x', headers: {} }), isUnreachable)
      assert.equal(seen.length, 3, 'one try and two retries')
    } finally {
      dropNext = 0
      c.close()
    }
  })

  it('does not retry by default, nor a POST, nor an error status', async () => {
    const none = client(0)
    const some = client(3)
    try {
      seen = []
      dropNext = 1
      await assert.rejects(none.request(target, { method: 'GET', path: '/x', headers: {} }), isUnreachable)
      assert.equal(seen.length, 1)
      seen = []
      dropNext = 1
      await assert.rejects(some.request(target, { method: 'POST', path: '/x', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') }), isUnreachable)
      assert.equal(seen.length, 1)
      seen = []
      await assert.rejects(some.request(target, { method: 'GET', path: '/fail', headers: {} }), (err: unknown) => err instanceof XrpcError && err.status === 503)
      assert.equal(seen.length, 1)
    } finally {
      dropNext = 0
      none.close()
      some.close()
    }
  })

  it('drops the upstream request when the caller aborts, while waiting for headers or a retry', async () => {
    const c = client(5)
    try {
      seen = []
      const controller = new AbortController()
      const pending = c.request(target, { method: 'GET', path: '/hang', headers: {}, signal: controller.signal })
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 5))
      controller.abort()
      await assert.rejects(pending, (err: unknown) => err instanceof XrpcError && err.status === 499)
      for (let i = 0; i < 100 && seen[0].closedEarly === undefined; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(seen[0].closedEarly, true, 'the upstream saw the connection close')
      // Aborted between retries: no further attempt.
      seen = []
      dropNext = 10
      const again = new AbortController()
      const retrying = c.request(target, { method: 'GET', path: '/x', headers: {}, signal: again.signal })
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 2))
      again.abort()
      await assert.rejects(retrying, (err: unknown) => err instanceof XrpcError && err.status === 499)
      const count = seen.length
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(seen.length, count)
      assert.ok(count < 5)
    } finally {
      dropNext = 0
      c.close()
    }
  })
})
