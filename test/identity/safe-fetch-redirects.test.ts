// Every outgoing request either checks each redirect hop against the SSRF rules or refuses
// redirects outright. A loopback server stands in for an outside host that answers with a
// redirect; the "forbidden" target is a second server on 127.0.0.2, which counts every request
// that reaches it: it must see none.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { AddressInfo } from 'node:net'
import { DidResolver } from '../../src/identity/did-resolver.ts'
import { PlcClient } from '../../src/identity/plc-client.ts'
import { type AddressResolver, safeFetch, SafeFetchError, SsrfError } from '../../src/identity/safe-fetch.ts'
import { createLogger } from '../../src/logger.ts'
import { ClientManager } from '../../src/oauth/client.ts'
import { createLexiconFetcher } from '../../src/oauth/lexicons.ts'
import { ProxyClient } from '../../src/proxy/upstream.ts'
import { startServer, type TestServer } from './helpers.ts'
import { startTestPds } from '../helpers/pds.ts'

let forbidden: TestServer
let forbiddenHits = 0
let front: TestServer
let frontHits = 0

before(async () => {
  forbidden = await startServer((req, res) => {
    forbiddenHits++
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"secret":true}')
  }, '127.0.0.2')
  // Any path: /hop/<n> redirects n more times to itself, then to the forbidden server.
  front = await startServer((req, res) => {
    frontHits++
    const m = /^\/hop\/(\d+)/.exec(req.url ?? '')
    const n = m ? Number(m[1]) : 0
    const location = n > 0 ? `/hop/${n - 1}` : `http://127.0.0.2:${forbidden.port}/secret`
    req.resume()
    res.writeHead(req.method === 'POST' ? 307 : 302, { location }).end()
  })
})

after(async () => {
  await front?.close()
  await forbidden?.close()
})

/** The redirect was served (the request did go out), and not followed to the forbidden host. */
function assertNotReached(frontBefore?: number): void {
  if (frontBefore !== undefined) assert.ok(frontHits > frontBefore, 'the request never reached the redirecting server')
  assert.equal(forbiddenHits, 0, 'the forbidden server was reached')
}

describe('safeFetch with SSRF protection on', () => {
  // Only the front server's address is let through, as a public host would be.
  const onlyFront = { allowAddress: (a: string) => a === '127.0.0.1' }
  const names: AddressResolver = async (host) => [{ address: host === 'front.test' ? '127.0.0.1' : '127.0.0.2', family: 4 }]

  test('a chain of redirects ending at a forbidden address literal is refused before connecting', async () => {
    await assert.rejects(safeFetch(`${front.url}/hop/2`, { ...onlyFront, maxRedirects: 5 }), SsrfError)
    assertNotReached()
  })

  test('a redirect to a name that resolves to a forbidden address is refused', async () => {
    const server = await startServer((_req, res) => res.writeHead(302, { location: `http://inside.test:${forbidden.port}/secret` }).end())
    try {
      await assert.rejects(safeFetch(`http://front.test:${server.port}/`, { ...onlyFront, resolve: names, maxRedirects: 5 }), SsrfError)
    } finally {
      await server.close()
    }
    assertNotReached()
  })

  test('the first hop is allowed, so the refusal is the later hop’s', async () => {
    const server = await startServer((_req, res) => res.end('fine'))
    try {
      assert.equal((await safeFetch(`${server.url}/`, onlyFront)).text(), 'fine')
    } finally {
      await server.close()
    }
  })

  test('by default no redirect is followed at all', async () => {
    await assert.rejects(safeFetch(`${front.url}/hop/0`, { allowPrivate: true }), (e: unknown) => e instanceof SafeFetchError && e.code === 'REDIRECT')
    assertNotReached()
  })
})

describe('callers that never follow a redirect (checked with private addresses allowed, as dev mode)', () => {
  test('did:web resolution', async () => {
    const hits = frontHits
    const resolver = new DidResolver({
      plc: 'http://127.0.0.1:1',
      allowPrivate: true,
      resolveAddress: async () => [{ address: '127.0.0.1', family: 4 }],
    })
    await assert.rejects(resolver.resolveNoCache(`did:web:localhost%3A${front.port}`))
    assertNotReached(hits)
  })

  test('the PLC directory client', async () => {
    const hits = frontHits
    const plc = new PlcClient({ url: `${front.url}/hop/1` })
    await assert.rejects(plc.getDocument('did:plc:ewvi7nxzyoun6zhxrhs64oiz'))
    assertNotReached(hits)
  })

  test('OAuth client metadata', async () => {
    const hits = frontHits
    // The client_id must be an https URL; the real guarded fetch is pointed at the front server
    // with the options the client manager chose.
    const clients = new ClientManager({
      issuer: 'https://pds.test',
      allowPrivate: true,
      fetch: (url, opts) => safeFetch(url.replace('https://client.test', front.url), opts),
    })
    await assert.rejects(clients.getClient('https://client.test/hop/1'), /redirect/i)
    assertNotReached(hits)
  })

  test('permission-set lexicons', async () => {
    const hits = frontHits
    const fetchLexicon = createLexiconFetcher({
      allowPrivate: true,
      resolveTxt: async () => [['did=did:web:lexicons.test']],
      resolveDid: async () => ({
        id: 'did:web:lexicons.test',
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: front.url }],
      }),
    })
    assert.equal(await fetchLexicon('com.example.perms.full'), null)
    assertNotReached(hits)
  })

  test('the proxy hands a redirect back instead of following it', async () => {
    const hits = frontHits
    const proxy = new ProxyClient({
      allowPrivate: true,
      headersTimeoutMs: 5000,
      bodyTimeoutMs: 5000,
      maxResponseSize: 1024 * 1024,
      logger: createLogger({ name: 'test', config: { level: 'fatal' } }),
    })
    try {
      const res = await proxy.request({ did: 'did:web:upstream.test', url: front.url, trusted: false }, { method: 'GET', path: '/hop/0', headers: {} })
      assert.equal(res.statusCode, 302)
      res.body.resume()
    } finally {
      proxy.close()
    }
    assertNotReached(hits)
  })

  test('requestCrawl to a configured crawler', async () => {
    let crawled = 0
    const crawler = await startServer((req, res) => {
      crawled++
      req.resume()
      res.writeHead(307, { location: `http://127.0.0.2:${forbidden.port}/xrpc/com.atproto.sync.requestCrawl` }).end()
    })
    const pds = await startTestPds({ env: { PDS_CRAWLERS: crawler.url } })
    try {
      const deadline = Date.now() + 5000
      while (crawled === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      assert.equal(crawled, 1)
      await new Promise((r) => setTimeout(r, 200))
    } finally {
      await pds.close()
      await crawler.close()
    }
    assertNotReached()
  })
})

test('the forbidden server is really reachable: the checks above are what kept requests away', async () => {
  const res = await fetch(`http://127.0.0.2:${(forbidden.server.address() as AddressInfo).port}/`)
  assert.equal(res.status, 200)
  await res.text()
  forbiddenHits = 0
})
