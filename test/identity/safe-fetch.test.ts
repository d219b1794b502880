import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { isPublicAddress, parseIPv6 } from '../../src/identity/ip-range.ts'
import {
  type AddressResolver,
  createSafeAgent,
  safeFetch,
  SafeFetchError,
  safeRequest,
  SsrfError,
} from '../../src/identity/safe-fetch.ts'
import { startServer } from './helpers.ts'

test('isPublicAddress: public unicast only, IPv4 inside IPv6 judged by the IPv4', () => {
  const publicOnes = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001:80e::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:0808:0808::1']
  const refused = [
    '0.0.0.0',
    '10.1.2.3',
    '100.64.0.1',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.0.0.8',
    '192.0.2.1',
    '192.168.1.1',
    '198.18.0.1',
    '198.51.100.7',
    '203.0.113.9',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::127.0.0.1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a00:1',
    '64:ff9b:1::1',
    '100::1',
    '2001::1',
    '2001:db8::1',
    '2002:7f00:0001::1',
    '2002:c0a8:0101::1',
    '3fff::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%eth0',
    'fec0::1',
    'ff02::1',
    '4000::1',
    'example.com',
    '',
    '1.2.3',
  ]
  for (const a of publicOnes) assert.equal(isPublicAddress(a), true, a)
  for (const a of refused) assert.equal(isPublicAddress(a), false, a)
  // Just outside the private ranges is public.
  assert.equal(isPublicAddress('172.32.0.1'), true)
  assert.equal(isPublicAddress('100.128.0.1'), true)
  assert.equal(isPublicAddress('11.0.0.1'), true)
  assert.equal(isPublicAddress('2001:200::1'), true)
})

test('parseIPv6 expands :: and dotted tails', () => {
  assert.deepEqual(parseIPv6('::1'), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))
  assert.deepEqual(parseIPv6('::ffff:1.2.3.4'), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]))
  assert.deepEqual(parseIPv6('[2001:db8::8:800:200c:417a]'), Uint8Array.from([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 8, 8, 0, 0x20, 0x0c, 0x41, 0x7a]))
  assert.deepEqual(parseIPv6('1:2:3:4:5:6:7:8')?.[15], 8)
  assert.equal(parseIPv6('1.2.3.4'), null)
  assert.equal(parseIPv6('1::2::3'), null)
  assert.equal(parseIPv6('12345::'), null)
})

/** A resolver that answers `addresses` for every name and counts the calls per name. */
function fixedResolver(addresses: string[]): AddressResolver & { calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const fn = (async (hostname: string) => {
    calls.set(hostname, (calls.get(hostname) ?? 0) + 1)
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const)
  }) as AddressResolver & { calls: Map<string, number> }
  fn.calls = calls
  return fn
}

test('private destinations are refused before any connection unless allowed', async () => {
  let hits = 0
  const server = await startServer((req, res) => {
    hits++
    res.end(`host=${req.headers.host}`)
  })
  try {
    await assert.rejects(safeFetch(`http://127.0.0.1:${server.port}/`), SsrfError)
    await assert.rejects(safeFetch(`http://[::ffff:127.0.0.1]:${server.port}/`), SsrfError)
    await assert.rejects(safeFetch(`http://localhost:${server.port}/`), SsrfError)
    // Any private address among a name's answers is enough to refuse it.
    await assert.rejects(safeFetch(`http://mixed.example:${server.port}/`, { resolve: fixedResolver(['93.184.216.34', '127.0.0.1']) }), SsrfError)
    assert.equal(hits, 0)

    const ok = await safeFetch(`http://127.0.0.1:${server.port}/`, { allowPrivate: true })
    assert.equal(ok.status, 200)
    assert.equal(ok.text(), `host=127.0.0.1:${server.port}`)
    assert.equal(hits, 1)
  } finally {
    await server.close()
  }
})

test('the connection goes to the address that was checked, resolved once (no rebinding window)', async () => {
  const server = await startServer((req, res) => res.end(`host=${req.headers.host}`))
  try {
    const resolve = fixedResolver(['127.0.0.1'])
    const res = await safeFetch(`http://handle.example.com:${server.port}/x`, { allowPrivate: true, resolve })
    assert.equal(res.text(), `host=handle.example.com:${server.port}`)
    assert.equal(resolve.calls.get('handle.example.com'), 1)
    // The same name without permission: refused by the lookup hook itself.
    await assert.rejects(safeFetch(`http://handle.example.com:${server.port}/x`, { resolve }), SsrfError)
  } finally {
    await server.close()
  }
})

test('size and time are bounded', async () => {
  const server = await startServer((req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000))
    } else if (req.url === '/chunked') {
      res.write('x'.repeat(3000))
      res.end('y'.repeat(3000))
    } else if (req.url === '/slow-body') {
      res.write('partial')
      // never ends
    } else if (req.url === '/hang') {
      // never answers
    } else {
      res.end('small')
    }
  })
  try {
    const opts = { allowPrivate: true, maxBytes: 4096, timeoutMs: 300 }
    const tooLarge = (e: unknown) => e instanceof SafeFetchError && e.code === 'TOO_LARGE'
    const timedOut = (e: unknown) => e instanceof SafeFetchError && e.code === 'TIMEOUT'
    await assert.rejects(safeFetch(`${server.url}/declared`, opts), tooLarge)
    await assert.rejects(safeFetch(`${server.url}/chunked`, opts), tooLarge)
    const started = Date.now()
    await assert.rejects(safeFetch(`${server.url}/hang`, opts), timedOut)
    await assert.rejects(safeFetch(`${server.url}/slow-body`, opts), timedOut)
    assert.ok(Date.now() - started < 2000)
    assert.equal((await safeFetch(`${server.url}/ok`, opts)).text(), 'small')
    const ctl = new AbortController()
    const pending = safeFetch(`${server.url}/hang`, { ...opts, timeoutMs: 5000, signal: ctl.signal })
    ctl.abort()
    await assert.rejects(pending, (e: unknown) => e instanceof SafeFetchError && e.code === 'ABORTED')
  } finally {
    await server.close()
  }
})

test('redirects: refused by default; followed up to a limit, each hop resolved and checked again', async () => {
  const seen: Array<{ url?: string; host?: string; auth?: string }> = []
  const server = await startServer((req, res) => {
    seen.push({ url: req.url, host: req.headers.host, auth: req.headers.authorization })
    const m = /^\/hop\/(\d+)$/.exec(req.url ?? '')
    if (m && Number(m[1]) > 0) {
      res.writeHead(302, { location: `/hop/${Number(m[1]) - 1}` }).end()
    } else if (req.url === '/to-other-host') {
      res.writeHead(301, { location: `http://second.example:${req.socket.localPort}/hop/0` }).end()
    } else if (req.url === '/to-file') {
      res.writeHead(302, { location: 'file:///etc/passwd' }).end()
    } else {
      res.end('arrived')
    }
  })
  try {
    const base = { allowPrivate: true }
    await assert.rejects(safeFetch(`${server.url}/hop/1`, base), (e: unknown) => e instanceof SafeFetchError && e.code === 'REDIRECT')
    assert.equal((await safeFetch(`${server.url}/hop/3`, { ...base, maxRedirects: 3 })).text(), 'arrived')
    await assert.rejects(safeFetch(`${server.url}/hop/4`, { ...base, maxRedirects: 3 }), (e: unknown) => e instanceof SafeFetchError && e.code === 'REDIRECT')
    await assert.rejects(safeFetch(`${server.url}/to-file`, { ...base, maxRedirects: 3 }), (e: unknown) => e instanceof SafeFetchError && e.code === 'PROTOCOL')

    const resolve = fixedResolver(['127.0.0.1'])
    seen.length = 0
    const res = await safeFetch(`http://first.example:${server.port}/to-other-host`, {
      ...base,
      resolve,
      maxRedirects: 1,
      headers: { authorization: 'Bearer secret' },
    })
    assert.equal(res.text(), 'arrived')
    assert.equal(res.url, `http://second.example:${server.port}/hop/0`)
    assert.equal(resolve.calls.get('first.example'), 1)
    assert.equal(resolve.calls.get('second.example'), 1)
    assert.equal(seen[0].auth, 'Bearer secret')
    assert.equal(seen[1].host, `second.example:${server.port}`)
    assert.equal(seen[1].auth, undefined, 'credentials are not sent to another origin')
    // The second hop is checked like the first: allowed to reach 127.0.0.1 but not 127.0.0.2,
    // a redirect to a name resolving to 127.0.0.2 (or to that literal) is refused.
    const onlyFirst = { allowAddress: (a: string) => a === '127.0.0.1', maxRedirects: 1 }
    const split: AddressResolver = async (host) => [{ address: host === 'first.example' ? '127.0.0.1' : '127.0.0.2', family: 4 }]
    assert.equal((await safeFetch(`http://first.example:${server.port}/hop/0`, { ...onlyFirst, resolve: split })).text(), 'arrived')
    await assert.rejects(safeFetch(`http://first.example:${server.port}/to-other-host`, { ...onlyFirst, resolve: split }), SsrfError)
    const toLiteral = await startServer((req, res) => res.writeHead(302, { location: `http://127.0.0.2:${server.port}/hop/0` }).end())
    try {
      await assert.rejects(safeFetch(`${toLiteral.url}/`, onlyFirst), SsrfError)
    } finally {
      await toLiteral.close()
    }
    await assert.rejects(safeFetch(`ftp://example.com/`), (e: unknown) => e instanceof SafeFetchError && e.code === 'PROTOCOL')
    await assert.rejects(safeFetch(`http://user:pw@example.com/`), (e: unknown) => e instanceof SafeFetchError && e.code === 'PROTOCOL')
  } finally {
    await server.close()
  }
})

test('safeRequest streams one hop; a safe agent guards every pooled connection', async () => {
  const server = await startServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => res.end(`${req.method} ${body}`))
  })
  try {
    const res = await safeRequest(`${server.url}/`, { allowPrivate: true, method: 'POST', body: 'hello' })
    assert.equal(res.status, 200)
    let text = ''
    for await (const chunk of res.body) text += (chunk as Buffer).toString()
    assert.equal(text, 'POST hello')

    const guarded = createSafeAgent('http:', { resolve: fixedResolver(['127.0.0.1']) })
    const viaAgent = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host, port: server.port, path: '/', agent: guarded }, (r) => {
          r.resume()
          resolve(r.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
      })
    await assert.rejects(viaAgent('anything.example'), SsrfError)
    guarded.destroy()
    const permissive = createSafeAgent('http:', { allowPrivate: true, resolve: fixedResolver(['127.0.0.1']) })
    const okStatus = await new Promise<number>((resolve, reject) => {
      const req = request({ host: 'anything.example', port: server.port, path: '/', agent: permissive }, (r) => {
        r.resume()
        resolve(r.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
    assert.equal(okStatus, 200)
    permissive.destroy()
  } finally {
    await server.close()
  }
})
