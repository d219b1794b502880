import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { CID, DID, type Fixture, json, startFixture } from './fixture.ts'

let f: Fixture
before(async () => {
  f = await startFixture()
})
after(async () => {
  await f.close()
})

const GET_RECORD = '/xrpc/com.atproto.repo.getRecord'
const LIST = '/xrpc/com.atproto.repo.listRecords'
const CREATE = '/xrpc/com.atproto.repo.createRecord'
const UPLOAD = '/xrpc/com.atproto.repo.uploadBlob'
const AUTH = { authorization: 'Bearer good' }

async function expectError(res: Response, status: number, error: string, message?: string | RegExp): Promise<void> {
  const body = await json(res)
  assert.equal(res.status, status, JSON.stringify(body))
  assert.equal(body.error, error)
  if (typeof message === 'string') assert.equal(body.message, message)
  else if (message) assert.match(String(body.message), message)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
}

/** A raw request, for what fetch will not send (GET bodies, odd verbs, bad headers). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${f.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

/** Bytes straight onto a socket; resolves with the status line's code and the raw response. */
function rawSocket(text: string): Promise<{ status: number; response: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(f.net.port, '127.0.0.1')
    let data = ''
    socket.on('data', (c) => {
      data += c.toString()
    })
    socket.on('error', reject)
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0), response: data }))
    socket.end(text)
  })
}

const bodyOf = (response: string) => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))

describe('params', () => {
  test('are coerced from strings and validated, with defaults applied', async () => {
    const res = await fetch(`${f.url}${LIST}?repo=alice.test&collection=app.bsky.feed.post&limit=7&reverse=true&unknown=1`)
    assert.equal(res.status, 200)
    await res.text()
    assert.deepEqual(f.seen.params, { repo: 'alice.test', collection: 'app.bsky.feed.post', limit: 7, reverse: true })
    const res2 = await fetch(`${f.url}${LIST}?repo=alice.test&collection=app.bsky.feed.post`)
    await res2.text()
    assert.deepEqual(f.seen.params, { repo: 'alice.test', collection: 'app.bsky.feed.post', limit: 50 })
  })

  test('a missing required param is 400 with the official message', async () => {
    await expectError(
      await fetch(`${f.url}${GET_RECORD}?repo=alice.test&collection=app.bsky.feed.post`),
      400,
      'InvalidRequest',
      'Error: Params must have the property "rkey"',
    )
  })

  test('a param of the wrong format is 400', async () => {
    await expectError(
      await fetch(`${f.url}${GET_RECORD}?repo=not%20a%20handle&collection=app.bsky.feed.post&rkey=x`),
      400,
      'InvalidRequest',
      'Error: repo must be a valid did or a handle',
    )
  })

  test('an integer above the maximum is 400; a non-number reads as 0 as in the official router', async () => {
    await expectError(
      await fetch(`${f.url}${LIST}?repo=alice.test&collection=app.bsky.feed.post&limit=1000`),
      400,
      'InvalidRequest',
      'Error: limit can not be greater than 100',
    )
    await expectError(
      await fetch(`${f.url}${LIST}?repo=alice.test&collection=app.bsky.feed.post&limit=abc`),
      400,
      'InvalidRequest',
      'Error: limit can not be less than 1',
    )
  })

  test('repeated keys make arrays', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.sync.getBlocks?did=${DID}&cids=${CID}&cids=${CID}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car')
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array([1, 2, 3]))
    assert.deepEqual(f.seen.params, { did: DID, cids: [CID, CID] })
  })

  test('__proto__ as a param name is refused', async () => {
    await expectError(
      await fetch(`${f.url}${GET_RECORD}?__proto__=x&repo=a.test&collection=a.b.c&rkey=x`),
      400,
      'InvalidQueryParameter',
      'Invalid query parameter: __proto__',
    )
  })
})

describe('JSON input', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${f.url}${CREATE}`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH, ...headers }, body })

  test('is parsed, validated and handed over as JSON', async () => {
    const record = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2024-01-01T00:00:00.000Z', embed: { x: { $link: CID } } }
    const res = await post(JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record }))
    assert.equal(res.status, 200)
    const body = await json(res)
    assert.equal(body.cid, CID)
    assert.deepEqual(f.seen.input, { repo: DID, collection: 'app.bsky.feed.post', record })
    assert.equal(f.seen.auth?.kind, 'access')
  })

  test('lexicon defaults are applied to the input', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.server.createInviteCodes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ useCount: 1 }),
    })
    assert.equal(res.status, 200)
    await res.text()
    assert.deepEqual(f.seen.input, { useCount: 1, codeCount: 1 })
  })

  test('a schema violation is 400 naming the field', async () => {
    await expectError(await post(JSON.stringify({ repo: DID, record: {} })), 400, 'InvalidRequest', 'Input must have the property "collection"')
    await expectError(
      await post(JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record: {}, validate: 'yes' })),
      400,
      'InvalidRequest',
      'Input/validate must be a boolean',
    )
    await expectError(await post('"text"'), 400, 'InvalidRequest', 'Input must be an object')
  })

  test('bad JSON is 400 InvalidRequest', async () => {
    await expectError(await post('{bad'), 400, 'InvalidRequest', /JSON/)
  })

  test('bad JSON is 400 InvalidRequest in a gzip body too; a BOM and blanks around the JSON are read', async () => {
    const bad = await raw('POST', CREATE, { 'content-type': 'application/json', 'content-encoding': 'gzip', ...AUTH }, gzipSync(Buffer.from('{bad')))
    assert.equal(bad.status, 400)
    assert.equal(JSON.parse(bad.body).error, 'InvalidRequest')
    assert.match(JSON.parse(bad.body).message, /JSON/)
    // A BOM and surrounding blanks are read as express reads them.
    const bom = await post('\ufeff  ' + JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record: { b: 2 } }) + '\n')
    assert.equal(bom.status, 200)
    await bom.text()
    assert.deepEqual(f.seen.input, { repo: DID, collection: 'app.bsky.feed.post', record: { b: 2 } })
  })

  test('an empty body reads as {} and fails validation', async () => {
    const res = await raw('POST', CREATE, { 'content-type': 'application/json', 'content-length': '0', ...AUTH })
    assert.equal(res.status, 400)
    assert.equal(JSON.parse(res.body).message, 'Input must have the property "repo"')
  })

  test('a wrong or missing content type is 400', async () => {
    await expectError(await post('{}', { 'content-type': 'text/plain' }), 400, 'InvalidRequest', 'Wrong request encoding (Content-Type): text/plain')
    const res = await raw('POST', CREATE, { 'content-length': '2', ...AUTH }, '{}')
    assert.equal(res.status, 400)
    assert.equal(JSON.parse(res.body).message, 'Request encoding (Content-Type) required but not provided')
  })

  test('content-type parameters and case are tolerated', async () => {
    const res = await post(JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record: {} }), {
      'content-type': 'Application/JSON; charset=utf-8',
    })
    assert.equal(res.status, 200)
    await res.text()
  })

  test('a missing body is 400', async () => {
    const { status, response } = await rawSocket(
      `POST ${CREATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer good\r\nConnection: close\r\n\r\n`,
    )
    assert.equal(status, 400)
    assert.equal(bodyOf(response).message, 'A request body is expected but none was provided')
  })

  test('a body over the JSON limit (150 KiB) is 413, by declared length and by bytes read', async () => {
    const big = JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record: { text: 'x'.repeat(160 * 1024) } })
    await expectError(await post(big), 413, 'PayloadTooLarge', 'request entity too large: the limit is 153600 bytes')
    // Chunked, so no declared length: the limit is enforced while reading.
    const res = await raw('POST', CREATE, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...AUTH }, big)
    assert.equal(res.status, 413)
    // A gzip body is limited by its decoded size.
    const zipped = gzipSync(Buffer.from(big))
    assert.ok(zipped.length < 150 * 1024)
    const res2 = await raw('POST', CREATE, { 'content-type': 'application/json', 'content-encoding': 'gzip', ...AUTH }, zipped)
    assert.equal(res2.status, 413)
  })

  test('a JSON body cut short by the client reaches no handler, and the server goes on serving', async () => {
    const marker = { repo: DID, collection: 'app.bsky.feed.post', record: { cut: 'before' } }
    await (await post(JSON.stringify(marker))).arrayBuffer()
    assert.deepEqual(f.seen.input, marker)
    await new Promise<void>((resolve, reject) => {
      const socket = connect(f.net.port, '127.0.0.1')
      socket.on('error', reject)
      socket.on('close', () => resolve())
      socket.write(`POST ${CREATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer good\r\nContent-Length: 1000\r\n\r\n{"repo":"`)
      setTimeout(() => socket.destroy(), 50)
    })
    const after = { repo: DID, collection: 'app.bsky.feed.post', record: { cut: 'after' } }
    const res = await post(JSON.stringify(after))
    assert.equal(res.status, 200)
    await res.arrayBuffer()
    // The handler saw the request before and the one after, never a part of the cut one.
    assert.deepEqual(f.seen.input, after)
  })

  test('gzip bodies are decoded; unknown encodings are 415', async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ repo: DID, collection: 'app.bsky.feed.post', record: { a: 1 } })))
    const ok = await raw('POST', CREATE, { 'content-type': 'application/json', 'content-encoding': 'gzip', ...AUTH }, body)
    assert.equal(ok.status, 200, ok.body)
    assert.deepEqual(f.seen.input, { repo: DID, collection: 'app.bsky.feed.post', record: { a: 1 } })
    const bad = await raw('POST', CREATE, { 'content-type': 'application/json', 'content-encoding': 'zstd-ish', ...AUTH }, '{}')
    assert.equal(bad.status, 415)
    assert.deepEqual(JSON.parse(bad.body), { error: 'UnsupportedMediaType', message: 'unsupported content-encoding' })
  })

  test('a query with a body is 400', async () => {
    const res = await raw('GET', `${GET_RECORD}?repo=a.test&collection=a.b.c&rkey=x`, { 'content-type': 'application/json', 'content-length': '2' }, '{}')
    assert.equal(res.status, 400)
    assert.equal(JSON.parse(res.body).message, 'A request body was provided when none was expected')
  })
})

describe('binary input', () => {
  test('streams to the handler with its content type', async () => {
    const res = await fetch(`${f.url}${UPLOAD}`, { method: 'POST', headers: { 'content-type': 'image/png', ...AUTH }, body: new Uint8Array(999) })
    const body = await json(res)
    assert.equal(res.status, 200)
    assert.equal((body.blob as { size: number }).size, 999)
    assert.equal(f.seen.encoding, 'image/png')
    assert.equal(f.seen.bodyBytes, 999)
  })

  test('over the method blob limit: 413 up front by content-length, or while streaming', async () => {
    await expectError(
      await fetch(`${f.url}${UPLOAD}`, { method: 'POST', headers: { 'content-type': 'image/png', ...AUTH }, body: new Uint8Array(1001) }),
      413,
      'PayloadTooLarge',
      'request entity too large: the limit is 1000 bytes',
    )
    const res = await raw('POST', UPLOAD, { 'content-type': 'image/png', 'transfer-encoding': 'chunked', ...AUTH }, Buffer.alloc(5000))
    assert.equal(res.status, 413)
  })

  test('auth is checked before the body is read', async () => {
    await expectError(
      await fetch(`${f.url}${UPLOAD}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(10) }),
      401,
      'AuthenticationRequired',
    )
  })

  test('a non-numeric content-length is refused before the handler runs', async () => {
    // Node's own parser refuses it at the HTTP level.
    const res = await new Promise<string>((resolve) => {
      const req = request(`${f.url}${UPLOAD}`, { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': 'abc', ...AUTH } })
      req.on('response', (r) => resolve(String(r.statusCode)))
      req.on('error', () => resolve('error'))
      req.end()
    })
    assert.ok(res === '400' || res === 'error', res)
  })
})

describe('auth', () => {
  test('a verifier error propagates with its status', async () => {
    await expectError(
      await fetch(`${f.url}${CREATE}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bad' }, body: '{}' }),
      401,
      'AuthenticationRequired',
      'Invalid authorization header',
    )
  })

  test('params are validated before auth, as in the official router', async () => {
    await expectError(await fetch(`${f.url}${GET_RECORD}?repo=a.test`, { headers: { authorization: 'Bearer bad' } }), 400, 'InvalidRequest')
  })

  test('responses to credentialed requests are private and vary on Authorization', async () => {
    const res = await fetch(`${f.url}${GET_RECORD}?repo=a.test&collection=a.b.c&rkey=x`, { headers: AUTH })
    assert.equal(res.status, 200)
    await res.text()
    assert.equal(res.headers.get('cache-control'), 'private')
    assert.equal(res.headers.get('vary'), 'Authorization')
    assert.equal(f.seen.auth?.kind, 'access')
    const anon = await fetch(`${f.url}${GET_RECORD}?repo=a.test&collection=a.b.c&rkey=x`)
    await anon.text()
    assert.equal(anon.headers.get('cache-control'), null)
  })
})

describe('routing', () => {
  test('a known lexicon called with the wrong verb is 400', async () => {
    await expectError(await fetch(`${f.url}${CREATE}`), 400, 'InvalidRequest', 'Incorrect HTTP method (GET) expected POST')
    await expectError(
      await fetch(`${f.url}${GET_RECORD}?repo=a.test&collection=a.b.c&rkey=x`, { method: 'POST', body: '{}' }),
      400,
      'InvalidRequest',
      'Incorrect HTTP method (POST) expected GET',
    )
    const put = await raw('PUT', CREATE)
    assert.equal(put.status, 400)
    assert.equal(JSON.parse(put.body).message, 'Incorrect HTTP method (PUT) expected POST')
  })

  test('an NSID nothing serves is 501 MethodNotImplemented (no proxy yet)', async () => {
    await expectError(await fetch(`${f.url}/xrpc/com.example.unknownMethod`), 501, 'MethodNotImplemented', 'Method Not Implemented')
    // A real lexicon that is not registered goes the same way.
    await expectError(await fetch(`${f.url}/xrpc/app.bsky.actor.getProfile?actor=a.test`), 501, 'MethodNotImplemented')
  })

  test('a fallback takes unregistered NSIDs', async () => {
    const { startFixture: start } = await import('./fixture.ts')
    const g = await start()
    try {
      g.server.setFallback(({ nsid, res, searchParams }) => {
        res.setHeader('content-type', 'text/plain')
        res.end(`proxied ${nsid} ${searchParams.get('q')}`)
      })
      const res = await fetch(`${g.url}/xrpc/app.bsky.feed.getTimeline?q=1`)
      assert.equal(res.status, 200)
      assert.equal(await res.text(), 'proxied app.bsky.feed.getTimeline 1')
      // The verb check still applies before the fallback for known lexicons.
      const wrong = await fetch(`${g.url}/xrpc/app.bsky.feed.getTimeline`, { method: 'POST', body: '{}' })
      assert.equal(wrong.status, 400)
      await wrong.text()
    } finally {
      await g.close()
    }
  })

  test('an invalid NSID path is 400 "invalid xrpc path"', async () => {
    for (const path of ['/xrpc/', '/xrpc/a', '/xrpc/foo..bar', '/xrpc/foo.bar.', '/xrpc/com.atproto.repo.getRecord/x', '/xrpc/a_b.c', '/xrpc/%61.b']) {
      await expectError(await fetch(`${f.url}${path}`), 400, 'InvalidRequest', 'invalid xrpc path')
    }
  })

  test('a trailing slash after the NSID is accepted', async () => {
    const res = await fetch(`${f.url}${GET_RECORD}/?repo=a.test&collection=a.b.c&rkey=x`)
    assert.equal(res.status, 200)
    await res.text()
  })

  test('HEAD on a query answers headers without a body', async () => {
    const res = await raw('HEAD', `${GET_RECORD}?repo=a.test&collection=a.b.c&rkey=x`)
    assert.equal(res.status, 200)
    assert.equal(res.body, '')
    assert.match(String(res.headers['content-type']), /application\/json/)
  })

  test('a non-XRPC path nothing serves is 404', async () => {
    const res = await fetch(`${f.url}/nothing/here`, { method: 'POST' })
    assert.equal(res.status, 404)
    assert.match(await res.text(), /<pre>Cannot POST \/nothing\/here<\/pre>/)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    // The path is escaped in the page.
    const { status, response } = await rawSocket('GET /a<b>"c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.equal(status, 404)
    assert.match(response, /Cannot GET \/a&lt;b&gt;&quot;c/)
  })

  test('plain routes: exact, prefix, HEAD via GET, errors as JSON', async () => {
    const { startFixture: start } = await import('./fixture.ts')
    const g = await start()
    try {
      g.server.addRoute('GET', '/hello', ({ res, searchParams }) => {
        res.end(`hello ${searchParams.get('name')}`)
      })
      g.server.addRoute(['GET', 'POST'], '/account/*', ({ res, path }) => {
        res.end(`account ${path}`)
      })
      g.server.addRoute('GET', '/boom', () => {
        throw new Error('secret detail')
      })
      assert.equal(await (await fetch(`${g.url}/hello?name=x`)).text(), 'hello x')
      assert.equal(await (await fetch(`${g.url}/account`)).text(), 'account /account')
      assert.equal(await (await fetch(`${g.url}/account/u/alice`, { method: 'POST' })).text(), 'account /account/u/alice')
      assert.equal((await fetch(`${g.url}/accountx`)).status, 404)
      const boom = await fetch(`${g.url}/boom`)
      assert.equal(boom.status, 500)
      assert.deepEqual(await json(boom), { error: 'InternalServerError', message: 'Internal Server Error' })
      assert.throws(() => g.server.addRoute('GET', '/hello', () => {}), /already registered/)
    } finally {
      await g.close()
    }
  })

  test('registering an NSID without a query/procedure lexicon, or twice, throws', () => {
    assert.throws(() => f.server.register({ nsid: 'com.example.nope', auth: () => ({ kind: 'none' }), handler: () => undefined }), /no query or procedure lexicon/)
    assert.throws(
      () => f.server.register({ nsid: 'com.atproto.sync.subscribeRepos', auth: () => ({ kind: 'none' }), handler: () => undefined }),
      /no query or procedure lexicon/,
    )
    assert.throws(
      () => f.server.register({ nsid: 'com.atproto.repo.getRecord', auth: () => ({ kind: 'none' }), handler: () => undefined }),
      /already registered/,
    )
  })
})

describe('errors and output', () => {
  test('an XrpcError from a handler keeps its status, name and message', async () => {
    await expectError(
      await fetch(`${f.url}/xrpc/com.atproto.repo.describeRepo?repo=alice.test`),
      400,
      'RepoNotFound',
      'Could not find repo: alice.test',
    )
  })

  test('any other error is a 500 without details, and is logged', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.server.describeServer`)
    const text = await res.text()
    assert.equal(res.status, 500)
    assert.deepEqual(JSON.parse(text), { error: 'InternalServerError', message: 'Internal Server Error' })
    assert.doesNotMatch(text, /hunter2/)
    assert.ok(f.logLines.some((l) => l.includes('unhandled exception in xrpc method com.atproto.server.describeServer')))
  })

  test('output validation turns a bad handler output into a 500', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.identity.resolveHandle?handle=bad.test`)
    assert.equal(res.status, 500)
    assert.deepEqual(await json(res), { error: 'InternalServerError', message: 'Internal Server Error' })
    assert.ok(f.logLines.some((l) => l.includes('Output/did must be a valid did')))
    const ok = await fetch(`${f.url}/xrpc/com.atproto.identity.resolveHandle?handle=good.test`)
    assert.deepEqual(await json(ok), { did: DID })
  })

  test('without validateResponses the bad output goes out as is', async () => {
    const { startFixture: start } = await import('./fixture.ts')
    const g = await start({ validateResponses: false })
    try {
      const res = await fetch(`${g.url}/xrpc/com.atproto.identity.resolveHandle?handle=bad.test`)
      assert.deepEqual(await json(res), { did: 'bob.test' })
    } finally {
      await g.close()
    }
  })

  test('a void output is an empty 200', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.server.deleteSession`, { method: 'POST', headers: AUTH })
    assert.equal(res.status, 200)
    assert.equal(await res.text(), '')
  })

  test('streamed output is piped in full', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.sync.getRepo?did=${DID}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car')
    const bytes = new Uint8Array(await res.arrayBuffer())
    assert.equal(bytes.length, 64 * 16 * 1024)
    assert.equal(bytes[bytes.length - 1], 63)
    assert.equal(f.seen.streamClosed, true)
  })

  test('a stream that fails before its first byte becomes an error response', async () => {
    await expectError(await fetch(`${f.url}/xrpc/com.atproto.sync.getRepo?did=did:plc:fail`), 400, 'RepoNotFound', 'no such repo')
  })

  test('a slow client holds the stream back; a client that leaves closes it', async () => {
    const res = await fetch(`${f.url}/xrpc/com.atproto.sync.getRepo?did=did:plc:big`)
    const reader = res.body!.getReader()
    await reader.read()
    await new Promise((r) => setTimeout(r, 200))
    // Backpressure: with the client not reading, the source is not drained into memory.
    const produced = f.seen.chunksProduced ?? 0
    assert.ok(produced < 16384 / 2, `produced ${produced} chunks while the client was not reading`)
    await reader.cancel()
    for (let i = 0; i < 50 && !f.seen.streamClosed; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(f.seen.streamClosed, true)
    assert.ok((f.seen.chunksProduced ?? 0) < 16384)
    // The server still answers.
    const again = await fetch(`${f.url}/xrpc/com.atproto.identity.resolveHandle?handle=good.test`)
    assert.equal(again.status, 200)
    await again.text()
  })

  test('a client that stops reading is cut off after the stall limit, and the stream closed', async () => {
    const g = await startFixture({ streamStallMs: 300 })
    try {
      const res = await fetch(`${g.url}/xrpc/com.atproto.sync.getRepo?did=did:plc:big`)
      const reader = res.body!.getReader()
      await reader.read()
      // The client keeps the connection and reads nothing more.
      const started = Date.now()
      while (!g.seen.streamClosed && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 25))
      assert.equal(g.seen.streamClosed, true, `the source was not closed: ${g.seen.chunksProduced} chunks, log ${g.logLines.slice(-3).join(' / ')}`)
      assert.ok(Date.now() - started >= 250, 'closed before the stall limit')
      assert.ok((g.seen.chunksProduced ?? 0) < 16384)
      // The response was cut: reading on ends in an error, not in a complete body.
      await assert.rejects(async () => {
        for (;;) if ((await reader.read()).done) break
      })
      assert.ok(g.logLines.some((l) => l.includes('took nothing for 300 ms')))
    } finally {
      await g.close()
    }
  })
})

describe('CORS', () => {
  test('every response allows any origin', async () => {
    const res = await fetch(`${f.url}${GET_RECORD}?repo=a.test`, { headers: { origin: 'https://app.example' } })
    await res.text()
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
  })

  test('preflights get 204 with the official headers', async () => {
    const res = await fetch(`${f.url}${CREATE}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, atproto-proxy',
      },
    })
    assert.equal(res.status, 204)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET,HEAD,PUT,PATCH,POST,DELETE')
    assert.equal(res.headers.get('access-control-allow-headers'), 'authorization, content-type, atproto-proxy')
    assert.equal(res.headers.get('access-control-max-age'), '86400')
    assert.equal(res.headers.get('vary'), 'Access-Control-Request-Headers')
    assert.equal(await res.text(), '')
  })

  test('a route registered without CORS gets neither headers nor preflight answers for its own verbs', async () => {
    const { startFixture: start } = await import('./fixture.ts')
    const g = await start()
    try {
      g.server.addRoute(['POST', 'OPTIONS'], '/oauth/par', ({ req, res }) => {
        res.statusCode = req.method === 'OPTIONS' ? 200 : 201
        res.end('own')
      }, { cors: false })
      const post = await fetch(`${g.url}/oauth/par`, { method: 'POST' })
      assert.equal(post.status, 201)
      assert.equal(post.headers.get('access-control-allow-origin'), null)
      await post.text()
      const options = await fetch(`${g.url}/oauth/par`, { method: 'OPTIONS' })
      assert.equal(options.status, 200)
      assert.equal(await options.text(), 'own')
    } finally {
      await g.close()
    }
  })
})

test('keep-alive timeout is 90 s, as the official PDS', () => {
  assert.equal(f.server.httpServer.keepAliveTimeout, 90_000)
})
