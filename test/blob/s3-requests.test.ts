// What the S3 store sends on the wire, seen by a recording HTTP proxy in front of a real
// S3-compatible server (s3rver, its own process): the requests an upload and a read make, and
// that what protects the bytes in transit stays (the payload hash SigV4 signs).
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { SignatureV4 } from '@smithy/signature-v4'
import { getObject, objectPath, putObject, signedHeaders } from '../../src/blob/s3-http.ts'
import { S3BlobStore } from '../../src/blob/s3-store.ts'
import { BlobNotFoundError, BlobStoreUnavailableError } from '../../src/blob/store.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'
import { chunked, DID, readAll } from './helpers.ts'

interface Seen {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  bodySha256: string
  bodyBytes: number
  status: number
}

interface RecordingProxy {
  url: string
  seen: Seen[]
  close(): Promise<void>
}

/** Forwards each request to `target` unchanged (the Host header too: SigV4 signs it) and records it. */
async function startRecordingProxy(target: URL): Promise<RecordingProxy> {
  const seen: Seen[] = []
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256')
    let bodyBytes = 0
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        seen.push({
          method: req.method ?? '',
          path: decodeURIComponent(req.url ?? ''),
          headers: req.headers,
          bodySha256: hash.digest('hex'),
          bodyBytes,
          status: up.statusCode ?? 0,
        })
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.on('data', (c: Buffer) => {
      hash.update(c)
      bodyBytes += c.length
    })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

let s3: TestS3
let proxy: RecordingProxy
let store: S3BlobStore

before(async () => {
  s3 = await startS3()
  proxy = await startRecordingProxy(new URL(s3.url))
  store = await S3BlobStore.create({
    provider: 's3',
    bucket: s3.bucket,
    region: 'us-east-1',
    endpoint: proxy.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    uploadTimeoutMs: 20_000,
    requestTimeoutMs: 6_000,
  })
})
after(async () => {
  store?.close()
  await proxy?.close()
  await s3?.close()
})

test('an upload that fits one part is one PutObject whose signed payload hash is the sha256 of the bytes sent', async () => {
  const bytes = randomBytes(1024 * 1024 + 17)
  proxy.seen.length = 0
  const temp = await store.putTemp(DID, chunked(bytes, 64 * 1024))
  assert.deepEqual(
    proxy.seen.map((s) => `${s.method} ${s.path.split('?')[0]} ${s.status}`),
    [`PUT /${s3.bucket}/tmp/${DID}/${temp.key} 200`],
  )
  const put = proxy.seen[0] as Seen
  const sha = createHash('sha256').update(bytes).digest('hex')
  assert.equal(put.bodyBytes, bytes.length)
  assert.equal(put.bodySha256, sha)
  // The hash the store checks the bytes against, and which the signature covers: a body changed
  // in transit is refused by S3, as when the SDK hashed the body itself.
  assert.equal(put.headers['x-amz-content-sha256'], sha)
  assert.match(String(put.headers.authorization), /SignedHeaders=[^,]*x-amz-content-sha256/)
  // And the blob's CID is that same digest.
  assert.equal(temp.cid.$link, cidForRaw(bytes).$link)
  await store.makePermanent(DID, temp.key, temp.cid)
  assert.ok((await readAll(await store.getStream(DID, temp.cid))).equals(bytes))
})

test('a larger upload is a multipart upload, each part signed with the hash of its own bytes', async () => {
  const bytes = randomBytes(6 * 1024 * 1024 + 5)
  proxy.seen.length = 0
  const temp = await store.putTemp(DID, chunked(bytes, 256 * 1024))
  const parts = proxy.seen.filter((s) => s.method === 'PUT')
  assert.equal(parts.length, 2)
  for (const p of parts) {
    assert.equal(p.status, 200)
    assert.equal(p.headers['x-amz-content-sha256'], p.bodySha256)
  }
  assert.equal(
    parts.reduce((n, p) => n + p.bodyBytes, 0),
    bytes.length,
  )
  await store.makePermanent(DID, temp.key, temp.cid)
  assert.ok((await readAll(await store.getStream(DID, temp.cid))).equals(bytes))
})

test('getStream of a missing blob is BlobNotFoundError after one request', async () => {
  proxy.seen.length = 0
  const cid = cidForRaw(randomBytes(10))
  await assert.rejects(store.getStream(DID, cid), BlobNotFoundError)
  assert.deepEqual(
    proxy.seen.map((s) => `${s.method} ${s.status}`),
    ['GET 404'],
  )
})

test('a read is one signed GET of the key, escaped as the SDK escapes it (a did:web key holds a %)', async () => {
  const did = 'did:web:localhost%3A2583'
  const bytes = randomBytes(300_000)
  const temp = await store.putTemp(did, chunked(bytes, 64 * 1024))
  await store.makePermanent(did, temp.key, temp.cid)
  proxy.seen.length = 0
  assert.ok((await readAll(await store.getStream(did, temp.cid))).equals(bytes))
  assert.equal(proxy.seen.length, 1)
  const get = proxy.seen[0] as Seen
  assert.equal(`${get.method} ${get.status}`, 'GET 200')
  assert.equal(get.path, `/${s3.bucket}/blocks/${did}/${temp.cid.$link}`)
  assert.match(String(get.headers.authorization), /^AWS4-HMAC-SHA256 Credential=S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/)
  await store.deleteAll(did)
})

test('a read with credentials the store refuses fails with the reason named, and no secret in it', async () => {
  // s3rver checks the access key, not SigV4 signatures (the signature itself is checked against
  // the SDK's own signer below).
  const secret = 'not-the-secret-0123456789'
  const wrong = await S3BlobStore.create({
    provider: 's3',
    bucket: s3.bucket,
    region: 'us-east-1',
    endpoint: proxy.url,
    forcePathStyle: true,
    credentials: { accessKeyId: 'NOBODY', secretAccessKey: secret },
    uploadTimeoutMs: 20_000,
    requestTimeoutMs: 6_000,
  })
  try {
    const bytes = randomBytes(1000)
    const temp = await store.putTemp(DID, chunked(bytes, 1000))
    await store.makePermanent(DID, temp.key, temp.cid)
    proxy.seen.length = 0
    const err = await wrong.getStream(DID, temp.cid).then(
      () => assert.fail('read with wrong credentials succeeded'),
      (e: unknown) => e as Error,
    )
    assert.ok(err instanceof BlobStoreUnavailableError, String(err))
    assert.match(err.reason, /the object store refused these credentials for bucket "hearth-test" \(InvalidAccessKeyId/)
    assert.ok(!err.reason.includes(secret))
    // A refusal is not retried.
    assert.deepEqual(
      proxy.seen.map((s) => `${s.method} ${s.status}`),
      ['GET 403'],
    )
  } finally {
    wrong.close()
  }
})

test('a request is signed as the SDK signer signs it when it hashes the body itself: the blob’s own sha256 stands in for a second hash', async () => {
  type Data = string | ArrayBuffer | ArrayBufferView
  const bytesOf = (d: Data) => (typeof d === 'string' ? Buffer.from(d) : d instanceof ArrayBuffer ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength))
  class Sha256 {
    private readonly h
    constructor(secret?: Data) {
      this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret))
    }
    update(data: Data): void {
      this.h.update(bytesOf(data))
    }
    async digest(): Promise<Uint8Array> {
      return this.h.digest()
    }
  }
  const now = new Date('2026-03-01T12:34:56.789Z')
  for (const identity of [
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: 'session-token-EXAMPLE==' },
  ]) {
    for (const [host, region, key] of [
      ['127.0.0.1:9000', 'us-east-1', 'blocks/did:web:localhost%3A2583/bafkreiexample'],
      ['my-bucket.s3.eu-west-1.amazonaws.com', 'eu-west-1', "blocks/did:plc:abc/it's (odd)*!"],
    ] as const) {
      const path = objectPath({ protocol: 'http:', hostname: host, port: undefined, pathPrefix: '/my-bucket/' }, key)
      const body = randomBytes(1000)
      for (const method of ['GET', 'PUT'] as const) {
        const put = method === 'PUT' ? { payloadSha256Hex: createHash('sha256').update(body).digest('hex'), contentLength: body.length } : {}
        const ours = await signedHeaders({ method, host, path, region, identity, now, ...put })
        const signer = new SignatureV4({ service: 's3', region, credentials: identity, sha256: Sha256, uriEscapePath: false, applyChecksum: true })
        // The SDK's signer hashes the payload itself (the empty one for a GET).
        const headers: Record<string, string> = { host }
        if (method === 'PUT') headers['content-length'] = String(body.length)
        const theirs = await signer.sign({ method, protocol: 'http:', hostname: host, path, query: {}, headers, body: method === 'PUT' ? body : undefined }, { signingDate: now })
        assert.equal(ours.authorization, theirs.headers.authorization, `${method} ${host} ${key}`)
        assert.equal(ours['x-amz-date'], theirs.headers['x-amz-date'])
        assert.equal(ours['x-amz-content-sha256'], theirs.headers['x-amz-content-sha256'])
        assert.equal(ours['x-amz-security-token'], theirs.headers['x-amz-security-token'])
      }
    }
  }
})

test('a read while the store is down fails at once with the store named unreachable; once back it reads', async () => {
  const bytes = randomBytes(1000)
  const temp = await store.putTemp(DID, chunked(bytes, 1000))
  await store.makePermanent(DID, temp.key, temp.cid)
  await s3.stop()
  try {
    const started = Date.now()
    const err = await store.getStream(DID, temp.cid).then(
      () => assert.fail('read while the store is down succeeded'),
      (e: unknown) => e as Error,
    )
    assert.ok(err instanceof BlobStoreUnavailableError, String(err))
    assert.match(err.reason, /cannot reach the object store at .* \((ECONNREFUSED|ECONNRESET)\)/)
    assert.ok(Date.now() - started < 3000, `gave up after ${Date.now() - started} ms`)
  } finally {
    await s3.start()
  }
  assert.ok((await readAll(await store.getStream(DID, temp.cid))).equals(bytes))
})

test('a request refused for a skewed clock is sent again at the store’s time, and the correction is kept', async () => {
  const bytes = randomBytes(5000)
  const key = `tmp/${DID}/clockskewtestkey`
  const corrections: number[] = []
  const options = (clockOffsetMs: number) => ({
    base: { protocol: 'http:' as const, hostname: '127.0.0.1', port: s3.port, pathPrefix: `/${s3.bucket}/` },
    key,
    region: 'us-east-1',
    identity: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    clockOffsetMs,
    onClockSkew: (offsetMs: number) => corrections.push(offsetMs),
    agent: new http.Agent({ keepAlive: false }),
    connectTimeoutMs: 5000,
    idleTimeoutMs: 6000,
  })
  // An hour behind: s3rver refuses a request signed more than 15 minutes off its clock.
  await putObject(options(-3_600_000), { chunks: [bytes], size: bytes.length, sha256Hex: createHash('sha256').update(bytes).digest('hex') })
  assert.equal(corrections.length, 1)
  assert.ok(Math.abs(corrections[0] as number) < 5000, `corrected to ${corrections[0]} ms`)
  assert.ok((await readAll(await getObject(options(+3_600_000)))).equals(bytes))
  assert.equal(corrections.length, 2)
  // In step: no correction.
  assert.ok((await readAll(await getObject(options(0)))).equals(bytes))
  assert.equal(corrections.length, 2)
  await store.deleteTemp(DID, 'clockskewtestkey')
})
