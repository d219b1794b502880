// The AppView and moderation service the fuzzed Hearth proxies to: a loopback server that answers
// each call in one of many ways a real upstream might (well, badly, compressed, broken, slow,
// huge, deeply nested, hanging up). Which way is a function of the request, so a replayed
// request meets the same upstream. It records which methods it was asked for and when: a 502 or
// 504 from Hearth is an upstream's failure only if the upstream was called for that method.
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { deepJsonText } from './values.ts'

export interface FakeUpstream {
  url: string
  /** Whether `nsid` (any method if null) was requested between `from` and `to` (ms since epoch). */
  saw(nsid: string | null, from: number, to: number): boolean
  calls: number
  close(): Promise<void>
}

const BEHAVIOURS = [
  'ok',
  'ok',
  'ok',
  'error400',
  'error500',
  'error502',
  'error504',
  'gzip',
  'gzipGarbage',
  'brGarbage',
  'gzipBomb',
  'huge',
  'deep',
  'cutMidBody',
  'hangUp',
  'slow',
  'badJson',
  'html',
  'shortBody',
] as const

let bomb: Buffer | null = null

export async function startFakeUpstream(): Promise<FakeUpstream> {
  // 64 MB of JSON whitespace-free text once decompressed, ~64 KB on the wire.
  bomb ??= gzipSync(Buffer.concat([Buffer.from('{"feed":[],"x":"'), Buffer.alloc(64 * 1024 * 1024, 0x61), Buffer.from('"}')]))
  const seen: Array<{ nsid: string; at: number }> = []
  let calls = 0
  const server = createServer((req, res) => {
    calls++
    const path = (req.url ?? '/').split('?')[0]
    const nsid = path.startsWith('/xrpc/') ? path.slice(6) : path
    seen.push({ nsid, at: Date.now() })
    if (seen.length > 5000) seen.splice(0, 1000)
    req.on('error', () => {})
    res.on('error', () => {})
    // Read the request body (bounded) before answering, as a real service would.
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > 20 * 1024 * 1024) req.destroy()
    })
    req.on('end', () => answer(req, res, nsid))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    saw: (nsid, from, to) => seen.some((s) => (nsid === null || s.nsid === nsid) && s.at >= from - 5 && s.at <= to + 5),
    get calls() {
      return calls
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function behaviourFor(req: IncomingMessage): (typeof BEHAVIOURS)[number] {
  const h = createHash('sha256').update(`${req.url} ${req.headers['accept-language'] ?? ''}`).digest()
  return BEHAVIOURS[h.readUInt32BE(0) % BEHAVIOURS.length]
}

// Plausible answers, so the methods that read the AppView's answer (read-after-write) work on it.
function plausible(nsid: string): unknown {
  if (nsid.endsWith('.getTimeline') || nsid.endsWith('.getAuthorFeed') || nsid.endsWith('.getActorLikes') || nsid.endsWith('.getFeed')) {
    return { feed: [] }
  }
  if (nsid.endsWith('.getProfile')) return { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', handle: 'someone.test' }
  if (nsid.endsWith('.getProfiles')) return { profiles: [] }
  if (nsid.endsWith('.getPostThread')) return { thread: { $type: 'app.bsky.feed.defs#notFoundPost', uri: 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k2yihcrp6f2c', notFound: true } }
  if (nsid.endsWith('.createReport')) {
    return { id: 1, reasonType: 'com.atproto.moderation.defs#reasonSpam', subject: { $type: 'com.atproto.admin.defs#repoRef', did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz' }, reportedBy: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', createdAt: new Date(0).toISOString() }
  }
  return {}
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

function answer(req: IncomingMessage, res: ServerResponse, nsid: string): void {
  const behaviour = behaviourFor(req)
  const body = JSON.stringify(plausible(nsid))
  switch (behaviour) {
    case 'ok':
      return json(res, 200, body)
    case 'error400':
      return json(res, 400, { error: 'InvalidRequest', message: 'upstream says no' })
    case 'error500':
      return json(res, 500, { error: 'InternalServerError', message: 'upstream broke' })
    case 'error502':
      return json(res, 502, { error: 'UpstreamFailure', message: 'upstream of upstream' })
    case 'error504':
      return json(res, 504, { error: 'UpstreamTimeout', message: 'too slow' })
    case 'gzip': {
      const z = gzipSync(body)
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': z.length })
      return void res.end(z)
    }
    case 'gzipGarbage':
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      return void res.end(Buffer.from('this is not gzip at all'))
    case 'brGarbage': {
      const z = brotliCompressSync(body)
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br, gzip' })
      return void res.end(z.subarray(0, Math.max(1, z.length - 3)))
    }
    case 'gzipBomb':
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': (bomb as Buffer).length })
      return void res.end(bomb)
    case 'huge': {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"feed":[],"x":"')
      const chunk = Buffer.alloc(1024 * 1024, 0x62)
      for (let i = 0; i < 12; i++) res.write(chunk)
      return void res.end('"}')
    }
    case 'deep':
      return json(res, 200, deepJsonText(10_000, false, (inner) => `{"feed":[],"thread":${inner},"profiles":[${deepJsonText(10_000, true)}]}`))
    case 'cutMidBody':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 5000 })
      res.write(body.slice(0, Math.max(1, body.length >> 1)))
      return void setTimeout(() => res.destroy(), 5)
    case 'hangUp':
      return void req.socket.destroy()
    case 'slow':
      return void setTimeout(() => json(res, 200, body), 1500)
    case 'badJson':
      return json(res, 200, '{"feed": [1, 2,')
    case 'html':
      res.writeHead(200, { 'content-type': 'text/html' })
      return void res.end('<html>hello</html>')
    case 'shortBody':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length + 100 })
      res.write(body)
      return void setTimeout(() => res.destroy(), 5)
  }
}
