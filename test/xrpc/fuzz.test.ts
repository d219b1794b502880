// 300 random, mostly malformed requests: none may crash the process, and none may produce a
// 500 except the one handler that throws on purpose.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { CID, DID, startFixture } from './fixture.ts'
import { prng } from '../helpers/prng.ts'


const SEED = Number(process.env.FUZZ_SEED ?? 20240601)
const rand = prng(SEED)
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]
const chance = (p: number) => rand() < p

const NSIDS = [
  'com.atproto.repo.getRecord',
  'com.atproto.repo.listRecords',
  'com.atproto.repo.createRecord',
  'com.atproto.repo.uploadBlob',
  'com.atproto.server.createInviteCodes',
  'com.atproto.sync.getBlocks',
  'com.atproto.sync.getRepo',
  'com.atproto.repo.describeRepo',
  'com.atproto.server.deleteSession',
  'com.atproto.identity.resolveHandle',
  'com.atproto.sync.subscribeRepos',
  'app.bsky.feed.getTimeline',
  'com.example.nope',
  'a.b',
  'x',
  '..',
  'com.atproto.repo.getRecord/extra',
  '%00',
  'café.test',
]
const THROWING = '/xrpc/com.atproto.server.describeServer'
const PARAM_NAMES = ['repo', 'collection', 'rkey', 'limit', 'cursor', 'did', 'cids', 'handle', 'reverse', '__proto__', 'constructor', 'toString', '']
const VALUES = [
  'alice.test',
  DID,
  'app.bsky.feed.post',
  '3k2yihcrp6f2c',
  '-1',
  '99999999999999999999',
  'true',
  'NaN',
  '%zz',
  '\u0000',
  '😀',
  CID,
  'x'.repeat(3000),
  '',
]
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'TRACE']
const CONTENT_TYPES = ['application/json', 'text/plain', 'image/png', 'garbage', 'application/json; charset=latin1', '*/*', 'application/']
const ENCODINGS = ['gzip', 'br', 'deflate', 'identity', 'x-unknown', 'gzip, br']

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256)
  return b
}

function randomJson(depth = 0): unknown {
  const r = rand()
  if (depth > 3 || r < 0.3) return pick([null, true, 1, -5, 1.5, 'str', CID, DID, { $link: 'nope' }, { $bytes: '!!' }, { $type: 'blob' }])
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(depth + 1))
  const obj: Record<string, unknown> = {}
  for (let i = 0; i < Math.floor(rand() * 5); i++) obj[pick(['repo', 'collection', 'record', 'rkey', 'validate', '$type', '__proto__', 'useCount', 'x'])] = randomJson(depth + 1)
  return obj
}

function randomPath(): string {
  if (chance(0.1)) return pick(['/', '/robots.txt', '/xrpc', '/xrpc/', '/.well-known/atproto-did', '/../etc/passwd', '//xrpc//a.b'])
  let path = `/xrpc/${pick(NSIDS)}`
  if (chance(0.1)) path += '/'
  if (chance(0.8)) {
    const parts: string[] = []
    for (let i = 0; i < Math.floor(rand() * 5); i++) {
      parts.push(`${encodeURIComponent(pick(PARAM_NAMES))}=${encodeURIComponent(pick(VALUES))}`)
    }
    if (chance(0.1)) parts.push('%E0%A4%A=broken&&=&a[]=1')
    path += `?${parts.join('&')}`
  }
  return path
}

function randomBody(): Buffer | undefined {
  const r = rand()
  if (r < 0.25) return undefined
  if (r < 0.5) return Buffer.from(JSON.stringify(randomJson()) ?? 'null')
  if (r < 0.6) return gzipSync(Buffer.from(JSON.stringify(randomJson()) ?? '{}'))
  if (r < 0.7) return Buffer.from('{"repo": "' + 'a'.repeat(Math.floor(rand() * 200_000)) + '"}')
  return randomBytes(Math.floor(rand() * 3000))
}

interface Outcome {
  status: number
  path: string
}

function viaHttp(url: string, path: string): Promise<Outcome> {
  const method = pick(METHODS)
  const headers: Record<string, string> = {}
  if (chance(0.7)) headers['content-type'] = pick(CONTENT_TYPES)
  if (chance(0.2)) headers['content-encoding'] = pick(ENCODINGS)
  if (chance(0.4)) headers.authorization = pick(['Bearer good', 'Bearer bad', 'Basic YWRtaW46eA==', 'DPoP x', ''])
  if (chance(0.2)) headers['x-forwarded-for'] = pick(['1.2.3.4', 'garbage, 10.0.0.1', '::1', ''])
  if (chance(0.1)) headers['access-control-request-headers'] = 'authorization, x-weird'
  const body = method === 'GET' || method === 'HEAD' ? (chance(0.1) ? randomBody() : undefined) : randomBody()
  if (body !== undefined) {
    if (chance(0.5)) headers['content-length'] = String(body.length)
    else headers['transfer-encoding'] = 'chunked'
  }
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { method, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, path }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, path }))
    })
    req.on('error', () => resolve({ status: 0, path }))
    req.setTimeout(10_000, () => req.destroy())
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

function viaSocket(port: number): Promise<Outcome> {
  const path = randomPath()
  const lines = [
    pick([`GET ${path} HTTP/1.1`, `POST ${path} HTTP/1.1`, `G\u0000T / HTTP/1.1`, 'NONSENSE', `GET ${path} HTTP/9.9`, `POST ${path} HTTP/1.0`]),
    'Host: x',
  ]
  if (chance(0.5)) lines.push(`Content-Length: ${pick(['5', '-1', 'abc', '99999999999', '0'])}`)
  if (chance(0.3)) lines.push('Transfer-Encoding: chunked')
  if (chance(0.3)) lines.push(`Content-Type: ${pick(CONTENT_TYPES)}`)
  if (chance(0.2)) lines.push(`X-Junk: ${'y'.repeat(Math.floor(rand() * 20_000))}`)
  lines.push('Connection: close')
  const text = lines.join('\r\n') + '\r\n\r\n' + (chance(0.5) ? '{"a":' : randomBytes(50).toString('latin1'))
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.setTimeout(5_000, () => socket.destroy())
    socket.on('data', (c) => {
      data += c.toString('latin1')
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.[01] (\d+)/.exec(data)?.[1] ?? 0), path }))
    socket.end(text, 'latin1')
  })
}

test(`300 random requests: no crash, no 500 but from the throwing handler (seed ${SEED})`, { timeout: 120_000 }, async () => {
  const f = await startFixture()
  try {
    const outcomes: Outcome[] = []
    for (let batch = 0; batch < 30; batch++) {
      const jobs: Promise<Outcome>[] = []
      for (let i = 0; i < 10; i++) {
        if (chance(0.2)) jobs.push(viaSocket(f.net.port))
        else if (chance(0.03)) jobs.push(viaHttp(f.url, `${THROWING}`))
        else jobs.push(viaHttp(f.url, randomPath()))
      }
      outcomes.push(...(await Promise.all(jobs)))
    }
    assert.equal(outcomes.length, 300)
    if (process.env.FUZZ_DEBUG) console.log(JSON.stringify(Object.entries(outcomes.reduce<Record<number, number>>((m, o) => ((m[o.status] = (m[o.status] ?? 0) + 1), m), {}))))
    const bad = outcomes.filter((o) => o.status >= 500 && !(o.status === 500 && o.path.startsWith(THROWING)) && o.status !== 501)
    assert.deepEqual(bad, [], `unexpected 5xx (seed ${SEED})`)
    // Most requests got an answer (sockets with broken framing may get none).
    assert.ok(outcomes.filter((o) => o.status > 0).length > 200)
    // And the server still serves.
    const health = await fetch(`${f.url}/xrpc/com.atproto.identity.resolveHandle?handle=alice.test`)
    assert.equal(health.status, 200)
    assert.deepEqual(await health.json(), { did: DID })
    // 500s were logged only for the throwing handler.
    const errors = f.logLines.filter((l) => l.includes('"level":50'))
    for (const line of errors) assert.match(line, /describeServer/)
  } finally {
    await f.close()
  }
})
