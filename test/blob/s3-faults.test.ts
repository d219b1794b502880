// Hearth on S3 when the object store misbehaves: refused credentials, a missing bucket or an
// unreachable endpoint are named at start; an object store that goes away answers writes that
// need it with a clear 5xx while everything else keeps working, and nothing needs repair once it
// is back; a stalled object store is given up on within its timeouts (504 for an upload, as the
// official). s3rver runs as its own process; a TCP proxy in front of it plays the stalled store.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { loadConfig } from '../../src/config/index.ts'
import { S3_MAX_SOCKETS } from '../../src/blob/s3-store.ts'
import { startServer } from '../../src/server.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, startStallingProxy, type StallingProxy, type TestS3 } from '../helpers/s3.ts'
import { pngBytes } from '../migration/helpers.ts'

let s3: TestS3

before(async () => {
  s3 = await startS3()
})
after(async () => {
  await s3?.close()
})

async function keys(prefix: string): Promise<string[]> {
  const raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  })
  try {
    const res = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))
    return (res.Contents ?? []).map((o) => o.Key as string)
  } finally {
    raw.destroy()
  }
}

/** Starts Hearth on `env`; resolves to the start's error message, or fails if it started. */
async function startError(env: Record<string, string>): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-s3-fault-'))
  try {
    const config = loadConfig({ PDS_HOSTNAME: 'localhost', PDS_PORT: '0', PDS_DATA_DIRECTORY: dataDir, ...env }, { dotenv: false })
    const started = Date.now()
    const hearth = await startServer(config).catch((err: Error) => err)
    if (!(hearth instanceof Error)) {
      await hearth.close()
      assert.fail('the server started')
    }
    assert.ok(Date.now() - started < 15_000, 'the start gave up in bounded time')
    return hearth.message
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('named at start, before anything is served', () => {
  // s3rver checks the access key but not SigV4 signatures, so a wrong key pair is what it can
  // refuse; a store that checks signatures answers a wrong secret with the same 403 family.
  test('wrong credentials (and the secret is not in the message)', async () => {
    const message = await startError({
      ...s3.env(),
      PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'NOBODY',
      PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 'not-the-secret-XYZZY',
    })
    assert.match(message, /blob store cannot be used: the object store refused these credentials for bucket "hearth-test"/)
    assert.match(message, /PDS_BLOBSTORE_S3_ACCESS_KEY_ID/)
    assert.doesNotMatch(message, /XYZZY/)
  })

  test('a bucket that does not exist', async () => {
    const message = await startError(s3.env({ bucket: 'no-such-bucket' }))
    assert.match(message, /the bucket "no-such-bucket" does not exist/)
  })

  test('an endpoint nothing listens on', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`
    const message = await startError(s3.env({ endpoint }))
    assert.match(message, new RegExp(`cannot reach the object store at ${endpoint.replace(/[.:/]/g, '\\$&')}`))
  })
})

describe('the object store goes away and comes back', () => {
  let pds: TestPds
  before(async () => {
    pds = await startTestPds({ env: { ...s3.env(), PDS_BLOB_UPLOAD_LIMIT: String(8 * 1024 * 1024) } })
  })
  after(async () => {
    await s3.start() // in case a test left it stopped
    await pds?.close()
  })

  test('while it is down: uploads and getBlob answer 503 BlobStoreUnavailable, everything else works; once back nothing needs repair', async () => {
    const alice = await pds.createAccount('alice')
    const before = await alice.agent.uploadBlob(pngBytes(1), { encoding: 'image/png' })
    const earlier = await alice.agent.post({
      text: 'before',
      embed: { $type: 'app.bsky.embed.images', images: [{ image: before.data.blob, alt: '' }] },
    })
    const earlierCid = before.data.blob.ref.toString()
    // Uploaded while up, posted while down: the commit stands, the move waits in temp storage.
    const pending = await alice.agent.uploadBlob(pngBytes(2), { encoding: 'image/png' })

    await s3.stop()
    const started = Date.now()
    const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.agent.session?.accessJwt}`, 'content-type': 'image/png' },
      body: pngBytes(3),
    })
    assert.equal(res.status, 503)
    const body = (await res.json()) as { error: string; message: string }
    assert.equal(body.error, 'BlobStoreUnavailable')
    assert.match(body.message, /blob store is unavailable/)
    assert.ok(Date.now() - started < 10_000)
    const got = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${earlierCid}`)
    assert.equal(got.status, 503)
    // Everything that does not need the object store works.
    const post = await alice.agent.post({ text: 'no picture needed' })
    const withPending = await alice.agent.post({
      text: 'picture uploaded before the outage',
      embed: { $type: 'app.bsky.embed.images', images: [{ image: pending.data.blob, alt: '' }] },
    })
    assert.ok(post.uri && withPending.uri)
    await alice.agent.com.atproto.server.getSession()
    const rec = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: earlier.uri.split('/').pop()! })
    assert.equal((rec.data.value as { text: string }).text, 'before')
    const health = await fetch(`${pds.url}/xrpc/_health`)
    assert.equal(health.status, 200)

    await s3.start()
    // Back: uploads work, the blob whose move failed is served (its move finished on demand).
    const up = await alice.agent.uploadBlob(pngBytes(4), { encoding: 'image/png' })
    await alice.agent.post({ text: 'after', embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } })
    for (const [bytes, cid] of [
      [pngBytes(1), earlierCid],
      [pngBytes(2), pending.data.blob.ref.toString()],
      [pngBytes(4), up.data.blob.ref.toString()],
    ] as const) {
      const r = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${cid}`)
      assert.equal(r.status, 200, cid)
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(bytes)))
    }
    assert.deepEqual(await keys(`tmp/${alice.did}/`), [])
  })

  test('stopped in the middle of an upload: the client gets a 5xx, no object is left, and the next upload works', async () => {
    const bob = await pds.createAccount('bob')
    let sent = 0
    let stopped: Promise<void> | null = null
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // Past the first 5 MiB part (sent to the store as a multipart upload), the store dies.
        if (sent >= 6 * 1024 * 1024 && !stopped) stopped = s3.stop()
        if (sent >= 6 * 1024 * 1024) await stopped
        if (sent >= 7 * 1024 * 1024 - 1) {
          controller.close()
          return
        }
        controller.enqueue(new Uint8Array(256 * 1024).fill(sent % 251))
        sent += 256 * 1024
      },
    })
    const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.agent.session?.accessJwt}`, 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit)
    assert.ok(res.status === 503 || res.status === 504, `status ${res.status}`)
    await s3.start()
    assert.deepEqual(await keys(`tmp/${bob.did}/`), [])
    assert.deepEqual(await keys(`blocks/${bob.did}/`), [])
    const again = await bob.agent.uploadBlob(pngBytes(5), { encoding: 'image/png' })
    assert.equal(again.data.blob.mimeType, 'image/png')
  })
})

describe('a stalled object store (a proxy that stops forwarding)', () => {
  let proxy: StallingProxy
  let pds: TestPds
  before(async () => {
    proxy = await startStallingProxy(s3.port)
    pds = await startTestPds({
      env: {
        ...s3.env({ endpoint: proxy.url }),
        PDS_BLOBSTORE_S3_UPLOAD_TIMEOUT_MS: '2000',
        PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: '500',
      },
    })
  })
  after(async () => {
    await pds?.close()
    await proxy?.close()
  })

  test('one shared client: sequential requests reuse a kept-alive connection, a crowd of them is held to the bounded pool', async () => {
    const dave = await pds.createAccount('dave')
    const up = await dave.agent.uploadBlob(pngBytes(9), { encoding: 'image/png' })
    await dave.agent.post({ text: 'pic', embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } })
    const url = `${pds.url}/xrpc/com.atproto.sync.getBlob?did=${dave.did}&cid=${up.data.blob.ref.toString()}`
    const before = proxy.connections().total
    for (let i = 0; i < 20; i++) assert.equal((await fetch(url)).status, 200)
    assert.ok(proxy.connections().total - before <= 1, `${proxy.connections().total - before} new connections for 20 sequential reads`)
    // A crowd of reads while the store hangs: each holds its connection until its timeout, so
    // the pool fills, and no more than its bound are opened.
    proxy.stall(true)
    const crowd = await Promise.all(Array.from({ length: 90 }, () => fetch(url).then((r) => r.status)))
    proxy.stall(false)
    assert.ok(crowd.every((status) => status === 503))
    const { peak } = proxy.connections()
    assert.ok(peak <= S3_MAX_SOCKETS && peak >= S3_MAX_SOCKETS / 2, `peak ${peak} connections`)
    assert.equal((await fetch(url)).status, 200)
  })

  test('an upload answers 504 UpstreamTimeout within its timeout; a read gives up within its request timeouts; both work once it flows again', async () => {
    const carol = await pds.createAccount('carol')
    const up = await carol.agent.uploadBlob(pngBytes(6), { encoding: 'image/png' })
    await carol.agent.post({ text: 'pic', embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } })
    const cid = up.data.blob.ref.toString()

    proxy.stall(true)
    let started = Date.now()
    const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { authorization: `Bearer ${carol.agent.session?.accessJwt}`, 'content-type': 'image/png' },
      body: pngBytes(7),
    })
    const uploadMs = Date.now() - started
    assert.equal(res.status, 504)
    assert.deepEqual(await res.json(), { error: 'UpstreamTimeout', message: 'Upload timed out, please try again.' })
    // Given up by the request timeouts (three attempts of 500 ms) or at the latest by the 2 s
    // upload timeout.
    assert.ok(uploadMs >= 1000 && uploadMs < 3500, `answered after ${uploadMs} ms`)

    started = Date.now()
    const got = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${carol.did}&cid=${cid}`)
    const readMs = Date.now() - started
    assert.equal(got.status, 503)
    // Three attempts of 500 ms each, with the SDK's short back-off between them.
    assert.ok(readMs < 6000, `gave up after ${readMs} ms`)

    proxy.stall(false)
    const r = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${carol.did}&cid=${cid}`)
    assert.equal(r.status, 200)
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(pngBytes(6))))
    const again = await carol.agent.uploadBlob(pngBytes(8), { encoding: 'image/png' })
    assert.equal(again.data.blob.size, pngBytes(8).length)
  })
})
