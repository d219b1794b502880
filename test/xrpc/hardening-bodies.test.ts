// Request bodies a careless or hostile client sends: bodies not in their declared
// content-encoding, clients that hang up mid-upload, bodies over a method's limit. None may end
// the process, and an over-limit body must get its 413 (not a broken pipe), also through a
// reverse proxy that, like nginx, answers 502 when sending the request upstream fails.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http, { type IncomingHttpHeaders } from 'node:http'
import net from 'node:net'
import { after, afterEach, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { deflateSync, gzipSync } from 'node:zlib'
import type { OAuthProvider } from '../../src/oauth/provider.ts'
import { png } from '../blob/samples.ts'
import { listen, type Listening } from '../helpers/net.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { ath, codeFrom, dpopProof, loopbackClientId, makeDpopKey, TestOAuthClient } from '../oauth/helpers.ts'

const BLOB_LIMIT = 5 * 1024 * 1024
// The record-writing methods take JSON up to 1,000,000 bytes.
const WRITE_JSON_LIMIT = 1_000_000
const JSON_LIMIT = 150 * 1024
const UPLOAD = '/xrpc/com.atproto.repo.uploadBlob'
const IMPORT = '/xrpc/com.atproto.repo.importRepo'
const CREATE = '/xrpc/com.atproto.repo.createRecord'
const UPDATE_HANDLE = '/xrpc/com.atproto.identity.updateHandle'
const BAD_ENCODINGS = ['gzip', 'x-gzip', 'deflate', 'br', 'identity, gzip', 'gzip, deflate']
// Plain bytes, in no content-encoding at all.
const NOT_ENCODED = Buffer.from('these bytes are in no content-encoding at all. '.repeat(200))

let pds: TestPds
// Alice's uploads succeed; Bob's are all refused or cut off, so he must never keep a temp file.
let alice: { did: string; token: string }
let bob: { did: string; token: string }

// The server runs in this process: an exception no code catches reaches these listeners (and
// node's test runner), where a standalone server would have died of it.
const uncaught: unknown[] = []
process.on('uncaughtException', (err) => uncaught.push(err))
process.on('unhandledRejection', (err) => uncaught.push(err))
afterEach(() => {
  const seen = uncaught.splice(0)
  assert.deepEqual(seen.map(String), [], 'errors no code handled (each would end a standalone server)')
})

before(async () => {
  pds = await startTestPds({
    env: {
      // Limits on, so the 429 path is reachable; imports off, so importRepo refuses before reading.
      PDS_RATE_LIMITS_ENABLED: 'true',
      PDS_ACCEPTING_REPO_IMPORTS: 'false',
    },
  })
  for (const name of ['alice', 'bob'] as const) {
    const acct = await pds.createAccount(name)
    const who = { did: acct.did, token: acct.agent.session!.accessJwt }
    if (name === 'alice') alice = who
    else bob = who
  }
})
after(async () => {
  await pds?.close()
})

interface Answer {
  status: number | null
  headers: IncomingHttpHeaders
  text: string
  json: { error?: string; message?: string } | null
  /** An error the client saw while sending or reading (EPIPE, ECONNRESET, ...). */
  error: NodeJS.ErrnoException | null
}

/**
 * One request on its own connection. `chunked` sends the body without a declared length, in
 * 64 KiB writes. Settles once the response is read and the request is done or failed.
 */
function send(
  base: string,
  path: string,
  o: { headers?: Record<string, string>; body?: Buffer; chunked?: boolean; method?: string } = {},
): Promise<Answer> {
  return new Promise((resolve) => {
    const url = new URL(path, base)
    const headers: Record<string, string> = { ...o.headers }
    if (o.body && !o.chunked) headers['content-length'] = String(o.body.length)
    const req = http.request(url, { method: o.method ?? 'POST', headers, agent: false })
    const answer: Answer = { status: null, headers: {}, text: '', json: null, error: null }
    let responded = false
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      try {
        answer.json = JSON.parse(answer.text)
      } catch {}
      resolve(answer)
    }
    req.on('error', (err: NodeJS.ErrnoException) => {
      answer.error ??= err
      if (!responded) settle()
    })
    req.on('response', (res) => {
      answer.status = res.statusCode ?? null
      answer.headers = res.headers
      res.setEncoding('utf8')
      res.on('data', (d: string) => (answer.text += d))
      res.on('error', (err: NodeJS.ErrnoException) => (answer.error ??= err))
      res.on('end', () => {
        responded = true
        // Wait for the request side too: an EPIPE while still writing must be seen.
        if (req.writableFinished) setImmediate(settle)
        else {
          req.once('finish', () => setImmediate(settle))
          req.once('close', () => setImmediate(settle))
        }
      })
      res.on('close', () => setTimeout(settle, 50))
    })
    if (!o.body) return void req.end()
    if (!o.chunked) return void req.end(o.body)
    let offset = 0
    const writeMore = () => {
      while (offset < o.body!.length) {
        const piece = o.body!.subarray(offset, offset + 64 * 1024)
        offset += piece.length
        if (!req.write(piece)) return void req.once('drain', writeMore)
      }
      req.end()
    }
    writeMore()
  })
}

async function assertHealthy(): Promise<void> {
  const res = await fetch(`${pds.url}/xrpc/_health`)
  assert.equal(res.status, 200)
  await res.text()
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/**
 * Sends the head of an upload (and some body bytes), then hangs up after `afterMs`: by a FIN
 * (destroy) or, every other time, by a reset.
 */
async function hangUp(path: string, headers: Record<string, string>, afterMs: number, n: number): Promise<void> {
  const { port } = new URL(pds.url)
  const socket = net.connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  const head = Object.entries({ host: `127.0.0.1:${port}`, 'content-length': '2000000', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`)
  if (n % 3 !== 0) socket.write(NOT_ENCODED.subarray(0, 512 * (n % 7)))
  if (afterMs > 0) await sleep(afterMs)
  else await new Promise((r) => setImmediate(r))
  if (n % 2 === 0) socket.resetAndDestroy()
  else socket.destroy()
}

async function hangUps(path: string, headersFor: (n: number) => Record<string, string>, count = 36): Promise<void> {
  for (let n = 0; n < count; n++) {
    // 0–11 ms, so the hang-up lands before, during and after the auth check and the handler's
    // first file-system work.
    await hangUp(path, headersFor(n), n % 12, n)
  }
  // Let the server see every close before asking it anything.
  await sleep(100)
  await assertHealthy()
}

/** The temp files of an account: an aborted or refused upload leaves none behind. */
async function assertNoTempFiles(did: string): Promise<void> {
  let files: string[] = []
  for (let i = 0; i < 50; i++) {
    files = (await pds.hearth.services.blobs.listTemp(did)).map((f) => f.name)
    if (files.length === 0) return
    await sleep(100)
  }
  assert.deepEqual(files, [], 'temp files left behind')
}

describe('no request body ends the process', () => {
  it('uploadBlob with a body not in its declared content-encoding is 400, and the server lives on', async () => {
    for (const encoding of BAD_ENCODINGS) {
      const res = await send(pds.url, UPLOAD, {
        headers: { ...bearer(bob.token), 'content-type': 'image/png', 'content-encoding': encoding },
        body: NOT_ENCODED,
      })
      assert.equal(res.status, 400, `${encoding}: ${res.text}`)
      assert.equal(res.json?.error, 'InvalidRequest', encoding)
      assert.match(res.json?.message ?? '', /could not decode the request body/, encoding)
      await assertHealthy()
    }
    // A body truncated mid-stream is refused the same way.
    const truncated = gzipSync(png).subarray(0, 20)
    const cut = await send(pds.url, UPLOAD, {
      headers: { ...bearer(bob.token), 'content-type': 'image/png', 'content-encoding': 'gzip' },
      body: truncated,
    })
    assert.equal(cut.status, 400, cut.text)
    await assertHealthy()
    // And a body that is in its encoding is still taken.
    const ok = await send(pds.url, UPLOAD, {
      headers: { ...bearer(alice.token), 'content-type': 'image/png', 'content-encoding': 'gzip' },
      body: gzipSync(png),
    })
    assert.equal(ok.status, 200, ok.text)
    assert.equal((JSON.parse(ok.text) as { blob: { size: number } }).blob.size, png.length)
    await assertNoTempFiles(bob.did)
  })

  it('a bad encoding on a JSON method is 400 too', async () => {
    for (const encoding of BAD_ENCODINGS) {
      const res = await send(pds.url, CREATE, {
        headers: { ...bearer(bob.token), 'content-type': 'application/json', 'content-encoding': encoding },
        body: NOT_ENCODED,
      })
      assert.equal(res.status, 400, `${encoding}: ${res.text}`)
      assert.equal(res.json?.error, 'InvalidRequest', encoding)
    }
    // Unknown codings (an object's own property names among them) and deep stacks are refused
    // before any decoder is made.
    for (const [encoding, message] of [
      ['toString', 'unsupported content-encoding'],
      ['gzip, constructor', 'unsupported content-encoding'],
      ['gzip, gzip, gzip, gzip', 'too many content-encodings'],
    ]) {
      const res = await send(pds.url, CREATE, {
        headers: { ...bearer(bob.token), 'content-type': 'application/json', 'content-encoding': encoding },
        body: NOT_ENCODED,
      })
      assert.equal(res.status, 415, `${encoding}: ${res.text}`)
      assert.deepEqual(res.json, { error: 'UnsupportedMediaType', message }, encoding)
    }
    // Stacked codings are undone last one first.
    const record = { repo: bob.did, collection: 'app.bsky.feed.post', record: { text: 'twice zipped', createdAt: new Date().toISOString() } }
    const twice = await send(pds.url, CREATE, {
      headers: { ...bearer(bob.token), 'content-type': 'application/json', 'content-encoding': 'deflate, gzip' },
      body: gzipSync(deflateSync(Buffer.from(JSON.stringify(record)))),
    })
    assert.equal(twice.status, 200, twice.text)
    await assertHealthy()
  })

  it('clients that hang up a few ms into an upload end no process and leave no temp file', async () => {
    await hangUps(UPLOAD, (n) => ({
      ...bearer(bob.token),
      'content-type': 'image/png',
      ...(n % 4 === 1 ? { 'content-encoding': 'gzip' } : {}),
    }))
    await assertNoTempFiles(bob.did)
  })

  it('the rate-limited path (429) neither reads nor crashes on the body', async () => {
    // A client of its own (through a trusted proxy header), so the other tests keep their budget.
    const ip = '198.51.100.23'
    const describe = `${pds.url}/xrpc/com.atproto.server.describeServer`
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    try {
      // The official global limit: 3000 calls per 5 minutes per IP.
      let limited = false
      for (let round = 0; round < 400 && !limited; round++) {
        const statuses = await Promise.all(
          Array.from({ length: 8 }, () =>
            new Promise<number>((resolve, reject) => {
              http
                .get(describe, { agent, headers: { 'x-forwarded-for': ip } }, (res) => {
                  res.resume()
                  res.on('end', () => resolve(res.statusCode ?? 0))
                })
                .on('error', reject)
            }),
          ),
        )
        limited = statuses.includes(429)
      }
      assert.ok(limited, 'the global limit was never reached')
    } finally {
      agent.destroy()
    }
    const headers = { ...bearer(bob.token), 'x-forwarded-for': ip, 'content-type': 'image/png' }
    for (const encoding of BAD_ENCODINGS) {
      const res = await send(pds.url, UPLOAD, { headers: { ...headers, 'content-encoding': encoding }, body: NOT_ENCODED })
      assert.equal(res.status, 429, `${encoding}: ${res.text}`)
      assert.equal(res.json?.error, 'RateLimitExceeded')
    }
    await assertHealthy()
    await hangUps(UPLOAD, (n) => ({ ...headers, ...(n % 2 === 1 ? { 'content-encoding': 'gzip' } : {}) }))
    await assertNoTempFiles(bob.did)
  })

  it('an OAuth session without a blob scope is refused (403) without a crash', async () => {
    const provider = pds.hearth.services.oauth as OAuthProvider
    const scope = 'atproto repo:app.bsky.feed.post?action=create'
    const client = new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
    const { res: par, verifier } = await client.par(scope)
    assert.equal(par.status, 201, JSON.stringify(par.body))
    const redirect = await provider.acceptAuthorization(par.body.request_uri as string, bob.did, 'dev-test')
    const token = (await client.exchange(codeFrom(redirect), verifier)).body.access_token as string
    assert.ok(token)
    // One call to learn the server's DPoP nonce.
    const session = await client.xrpc('GET', 'com.atproto.server.getSession', token)
    assert.equal(session.status, 200, JSON.stringify(session.body))
    const headersFor = async (extra: Record<string, string>) => ({
      authorization: `DPoP ${token}`,
      dpop: await dpopProof(client.key, { htm: 'POST', htu: `${pds.url}${UPLOAD}`, nonce: client.nonce, ath: ath(token) }),
      'content-type': 'image/png',
      ...extra,
    })
    for (const encoding of BAD_ENCODINGS) {
      const res = await send(pds.url, UPLOAD, { headers: await headersFor({ 'content-encoding': encoding }), body: NOT_ENCODED })
      assert.equal(res.status, 403, `${encoding}: ${res.text}`)
    }
    await assertHealthy()
    const proofs: Record<string, string>[] = []
    for (let n = 0; n < 24; n++) proofs.push(await headersFor(n % 2 === 1 ? { 'content-encoding': 'gzip' } : {}))
    await hangUps(UPLOAD, (n) => proofs[n], proofs.length)
  })

  it('importRepo while imports are off is 400 without a crash', async () => {
    const headers = { ...bearer(bob.token), 'content-type': 'application/vnd.ipld.car' }
    for (const encoding of BAD_ENCODINGS) {
      const res = await send(pds.url, IMPORT, { headers: { ...headers, 'content-encoding': encoding }, body: NOT_ENCODED })
      assert.equal(res.status, 400, `${encoding}: ${res.text}`)
      assert.equal(res.json?.message, 'Service is not accepting repo imports')
    }
    await assertHealthy()
    await hangUps(IMPORT, (n) => ({ ...headers, ...(n % 2 === 1 ? { 'content-encoding': 'gzip' } : {}) }))
  })
})

/**
 * A reverse proxy as nginx runs by default: it reads the client's whole body first, then sends
 * it upstream, and answers 502 if sending the request upstream fails, whatever the upstream
 * may have written back meanwhile.
 */
async function startProxy(upstream: string): Promise<Listening> {
  const target = new URL(upstream)
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) }
    delete headers['transfer-encoding']
    delete headers.connection
    const badGateway = () => {
      if (res.headersSent) return void res.destroy()
      res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end('502 Bad Gateway')
    }
    const up = http.request(new URL(req.url ?? '/', target), { method: req.method, headers, agent: false })
    let sent = false
    let answer: http.IncomingMessage | null = null
    const relay = () => {
      if (!sent || answer === null || res.headersSent) return
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    }
    up.on('error', () => {
      if (!sent) badGateway()
    })
    up.on('response', (r) => {
      answer = r
      relay()
    })
    up.end(body, () => {
      sent = true
      relay()
    })
  })
  return listen(server)
}

describe('bodies over a limit get their 413, not a broken pipe', () => {
  let proxy: Listening
  before(async () => {
    proxy = await startProxy(pds.url)
  })
  after(async () => {
    await proxy?.close()
  })

  const blobHeaders = () => ({ ...bearer(bob.token), 'content-type': 'application/octet-stream' })
  const jsonHeaders = () => ({ ...bearer(bob.token), 'content-type': 'application/json' })
  const overBlob = Buffer.alloc(BLOB_LIMIT + 1, 7)
  // A record whose JSON is 6 MB: far over the JSON limit, far over a socket buffer.
  const overJson = Buffer.from(
    JSON.stringify({ repo: 'x', collection: 'app.bsky.feed.post', record: { text: 'y'.repeat(6 * 1024 * 1024) } }),
  )

  function assert413(res: Answer, limit: number, what: string): void {
    assert.equal(res.error, null, `${what}: the client saw ${res.error?.code ?? res.error?.message}`)
    assert.equal(res.status, 413, `${what}: ${res.status} ${res.text.slice(0, 200)}`)
    assert.deepEqual(res.json, { error: 'PayloadTooLarge', message: `request entity too large: the limit is ${limit} bytes` }, what)
  }

  it('a direct client reads the 413 without EPIPE or ECONNRESET', async () => {
    assert413(await send(pds.url, UPLOAD, { headers: blobHeaders(), body: overBlob }), BLOB_LIMIT, 'blob, declared length')
    assert413(await send(pds.url, UPLOAD, { headers: blobHeaders(), body: overBlob, chunked: true }), BLOB_LIMIT, 'blob, chunked')
    assert413(await send(pds.url, UPLOAD, { headers: blobHeaders(), body: Buffer.alloc(12 * 1024 * 1024) }), BLOB_LIMIT, 'blob, 12 MB')
    assert413(await send(pds.url, CREATE, { headers: jsonHeaders(), body: overJson }), WRITE_JSON_LIMIT, 'record json, declared length')
    assert413(await send(pds.url, CREATE, { headers: jsonHeaders(), body: overJson, chunked: true }), WRITE_JSON_LIMIT, 'record json, chunked')
    assert413(await send(pds.url, UPDATE_HANDLE, { headers: jsonHeaders(), body: overJson }), JSON_LIMIT, 'json, declared length')
    assert413(await send(pds.url, UPDATE_HANDLE, { headers: jsonHeaders(), body: overJson, chunked: true }), JSON_LIMIT, 'json, chunked')
    await assertHealthy()
    await assertNoTempFiles(bob.did)
  })

  it('through a reverse proxy an upload one byte over the limit is 413, not 502', async () => {
    assert413(await send(proxy.url, UPLOAD, { headers: blobHeaders(), body: overBlob }), BLOB_LIMIT, 'blob via proxy')
    assert413(await send(proxy.url, UPLOAD, { headers: blobHeaders(), body: overBlob, chunked: true }), BLOB_LIMIT, 'blob via proxy, chunked by the client')
    assert413(await send(proxy.url, UPLOAD, { headers: blobHeaders(), body: Buffer.alloc(12 * 1024 * 1024) }), BLOB_LIMIT, 'blob via proxy, 12 MB')
    assert413(await send(proxy.url, CREATE, { headers: jsonHeaders(), body: overJson }), WRITE_JSON_LIMIT, 'record json via proxy')
    assert413(await send(proxy.url, UPDATE_HANDLE, { headers: jsonHeaders(), body: overJson }), JSON_LIMIT, 'json via proxy')
    // Exactly at the limit is still taken.
    const atLimit = await send(proxy.url, UPLOAD, { headers: { ...bearer(alice.token), 'content-type': 'application/octet-stream' }, body: Buffer.alloc(BLOB_LIMIT, 7) })
    assert.equal(atLimit.status, 200, atLimit.text)
    await assertHealthy()
  })

  it('a body declared far beyond what is worth draining is answered at once, closing the connection', async () => {
    const { port } = new URL(pds.url)
    const socket = net.connect(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    await once(socket, 'connect')
    const head = [
      `POST ${UPLOAD} HTTP/1.1`,
      `host: 127.0.0.1:${port}`,
      `authorization: Bearer ${bob.token}`,
      'content-type: application/octet-stream',
      `content-length: ${1024 * 1024 * 1024}`,
    ]
    socket.write(head.join('\r\n') + '\r\n\r\n')
    socket.write(Buffer.alloc(64 * 1024))
    let response = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (response += d))
    await Promise.race([once(socket, 'close'), sleep(5000)])
    socket.destroy()
    assert.match(response, /^HTTP\/1\.1 413 /)
    assert.match(response, /\r\nconnection: close\r\n/i)
    assert.ok(response.endsWith(JSON.stringify({ error: 'PayloadTooLarge', message: `request entity too large: the limit is ${BLOB_LIMIT} bytes` })), response)
    await assertHealthy()
  })

  it('after a drained 413 the connection still serves the next request', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const sockets = new Set<net.Socket>()
      const call = (path: string, method: string, headers: Record<string, string>, body?: Buffer) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(new URL(path, pds.url), { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent })
          req.on('socket', (s) => sockets.add(s))
          req.on('error', reject)
          req.on('response', (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          })
          req.end(body)
        })
      assert.equal(await call(UPLOAD, 'POST', blobHeaders(), overBlob), 413)
      assert.equal(await call('/xrpc/_health', 'GET', {}), 200)
      assert.equal(sockets.size, 1, 'the connection was closed after the 413')
    } finally {
      agent.destroy()
    }
  })
})
