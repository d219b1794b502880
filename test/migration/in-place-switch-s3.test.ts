// The in-place switch with blobs in S3: the official PDS 0.5.35, configured with a bucket on an
// S3-compatible server (s3rver, its own process), writes an account with images; it stops, and
// Hearth starts on the same environment, data directory and bucket: the blobs are served byte
// for byte from the official's keys, a taken-down-and-restored blob comes back, and a new post
// with an image lands in the same layout.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { loadConfig } from '../../src/config/index.ts'
import { type Hearth, startServer } from '../../src/server.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { type OfficialPds, officialUnavailable, startOfficialPds } from '../helpers/official-pds.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'
import { pngBytes } from './helpers.ts'

let plc: { url: string; close(): Promise<void> }
let s3: TestS3
let raw: S3Client
let dataDir: string
let official: OfficialPds
let hearth: Hearth
let aliceDid = ''
const blobs = new Map<string, Uint8Array>()

async function keys(prefix: string): Promise<string[]> {
  const res = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))
  return (res.Contents ?? []).map((o) => o.Key as string).sort()
}

before(async () => {
  if (officialUnavailable) return
  plc = await startReferencePlc()
  s3 = await startS3()
  raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  })
  dataDir = mkdtempSync(join(tmpdir(), 'hearth-switch-s3-'))
  official = await startOfficialPds({
    dataDir,
    plcUrl: plc.url.replace('127.0.0.1', 'localhost'),
    env: {
      ...s3.env(),
      // The official refuses a disk location beside a bucket; empty is unset for both servers.
      PDS_BLOBSTORE_DISK_LOCATION: '',
    },
  })
  const a = new AtpAgent({ service: official.url })
  await a.createAccount({ handle: 'alice.test', email: 'alice@example.com', password: 'alice-password' })
  aliceDid = a.session?.did as string
  const images = []
  for (const png of [pngBytes(1), pngBytes(2)]) {
    const up = await a.uploadBlob(png, { encoding: 'image/png' })
    blobs.set(up.data.blob.ref.toString(), png)
    images.push({ image: up.data.blob, alt: 'a pixel' })
  }
  await a.post({ text: 'with pictures', embed: { $type: 'app.bsky.embed.images', images } })
  await official.stop()
  hearth = await startServer(loadConfig({ ...official.env, HEARTH_VALIDATE_RESPONSES: 'true' }, { dotenv: false }))
})

after(async () => {
  await hearth?.close()
  await official?.stop()
  raw?.destroy()
  await s3?.close()
  await plc?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

test('the official wrote its blobs to the bucket under blocks/<did>/<cid>, and Hearth runs on that bucket', { skip: officialUnavailable }, async () => {
  assert.equal(hearth.services.blobs.kind, 's3')
  assert.deepEqual(await keys(`blocks/${aliceDid}/`), [...blobs.keys()].map((cid) => `blocks/${aliceDid}/${cid}`).sort())
})

test('Hearth serves the official’s blobs byte for byte', { skip: officialUnavailable }, async () => {
  assert.equal(blobs.size, 2)
  for (const [cid, bytes] of blobs) {
    const res = await fetch(`${hearth.url}/xrpc/com.atproto.sync.getBlob?did=${aliceDid}&cid=${cid}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'image/png')
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes)))
  }
  const listed = await new AtpAgent({ service: hearth.url }).com.atproto.sync.listBlobs({ did: aliceDid })
  assert.deepEqual([...listed.data.cids].sort(), [...blobs.keys()].sort())
})

test('a new post with an image works on Hearth, in the same layout', { skip: officialUnavailable }, async () => {
  const agent = new AtpAgent({ service: hearth.url })
  await agent.login({ identifier: 'alice.test', password: 'alice-password' })
  const png = pngBytes(3)
  const up = await agent.uploadBlob(png, { encoding: 'image/png' })
  await agent.post({ text: 'on Hearth', embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } })
  const cid = up.data.blob.ref.toString()
  assert.ok((await keys(`blocks/${aliceDid}/`)).includes(`blocks/${aliceDid}/${cid}`))
  assert.deepEqual(await keys(`tmp/${aliceDid}/`), [])
  const res = await fetch(`${hearth.url}/xrpc/com.atproto.sync.getBlob?did=${aliceDid}&cid=${cid}`)
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(png)))
})
