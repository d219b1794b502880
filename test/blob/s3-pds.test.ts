// Hearth with its blobs in an S3-compatible bucket (s3rver, its own process on loopback), end to
// end through the official client: upload (temporary object), a post that references it (moved
// to blocks/), getBlob byte for byte with the official headers, listBlobs, takedown into
// quarantine/ and back, the sweep of an upload no record came to use, importRepo +
// listMissingBlobs + uploadBlob of a migration, and account deletion removing every object.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { collectUntethered } from '../../src/actions/blob-gc.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'
import { clientFailure } from '../helpers/xrpc-error.ts'
import { pngBytes } from '../migration/helpers.ts'

let s3: TestS3
let pds: TestPds
let raw: S3Client

before(async () => {
  s3 = await startS3()
  pds = await startTestPds({ env: { ...s3.env(), PDS_BLOB_UPLOAD_LIMIT: String(8 * 1024 * 1024) } })
  raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  })
})

after(async () => {
  raw?.destroy()
  await pds?.close()
  await s3?.close()
})

async function keys(prefix: string): Promise<string[]> {
  const res = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))
  return (res.Contents ?? []).map((o) => o.Key as string).sort()
}

function adminAgent(): AtpAgent {
  const agent = new AtpAgent({ service: pds.url })
  agent.setHeader('authorization', `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`)
  return agent
}

async function postImage(agent: AtpAgent, bytes: Uint8Array): Promise<{ cid: string; uri: string }> {
  const up = await agent.uploadBlob(bytes, { encoding: 'image/png' })
  const post = await agent.post({
    text: 'a picture',
    createdAt: new Date().toISOString(),
    embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: 'a pixel' }] },
  })
  return { cid: up.data.blob.ref.toString(), uri: post.uri }
}

test('the blob store is the bucket', () => {
  assert.equal(pds.hearth.services.blobs.kind, 's3')
})

test('upload → temporary object; post → blocks/<did>/<cid>; getBlob streams it with the official headers; listBlobs lists it', async () => {
  const alice = await pds.createAccount('alice')
  const bytes = pngBytes(1)
  const up = await alice.agent.uploadBlob(bytes, { encoding: 'application/octet-stream' })
  const cid = up.data.blob.ref.toString()
  assert.equal(cid, cidForRaw(bytes).$link)
  assert.equal(up.data.blob.mimeType, 'image/png', 'sniffed from the bytes')
  const temps = await keys(`tmp/${alice.did}/`)
  assert.equal(temps.length, 1)
  assert.match(temps[0], new RegExp(`^tmp/${alice.did}/[a-z2-7]{52}$`))
  assert.deepEqual(await keys(`blocks/${alice.did}/`), [])

  await alice.agent.post({
    text: 'a picture',
    createdAt: new Date().toISOString(),
    embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: 'a pixel' }] },
  })
  // The move runs right after the commit, before the answer.
  assert.deepEqual(await keys(`tmp/${alice.did}/`), [])
  assert.deepEqual(await keys(`blocks/${alice.did}/`), [`blocks/${alice.did}/${cid}`])

  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${cid}`)
  assert.equal(res.status, 200)
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes)))
  assert.equal(res.headers.get('content-type'), 'image/png')
  assert.equal(res.headers.get('content-length'), String(bytes.length))
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; sandbox")
  const listed = await pds.agent().com.atproto.sync.listBlobs({ did: alice.did })
  assert.deepEqual(listed.data.cids, [cid])
})

test('a 6 MiB upload streams through (several parts of the uploader) and reads back whole', async () => {
  const bob = await pds.createAccount('bob')
  const bytes = new Uint8Array(randomBytes(6 * 1024 * 1024 + 123))
  const { cid } = await postImage(bob.agent, bytes)
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${bob.did}&cid=${cid}`)
  assert.equal(res.status, 200)
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes)))
})

test('an upload over PDS_BLOB_UPLOAD_LIMIT is 413 and leaves no object', async () => {
  const carol = await pds.createAccount('carol')
  const limit = pds.hearth.config.service.blobUploadLimit
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let sent = 0; sent <= limit; sent += 256 * 1024) controller.enqueue(new Uint8Array(256 * 1024))
      controller.close()
    },
  })
  const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { authorization: `Bearer ${carol.agent.session?.accessJwt}`, 'content-type': 'image/png' },
    body,
    duplex: 'half',
  } as RequestInit)
  assert.equal(res.status, 413)
  assert.equal(((await res.json()) as { error: string }).error, 'PayloadTooLarge')
  assert.deepEqual(await keys(`tmp/${carol.did}/`), [])
})

test('takedown moves the blob to quarantine/<did>/<cid> (getBlob: Blob not found); reversal moves it back', async () => {
  const dan = await pds.createAccount('dan')
  const bytes = pngBytes(2)
  const { cid } = await postImage(dan.agent, bytes)
  const admin = adminAgent()
  const subject = { $type: 'com.atproto.admin.defs#repoBlobRef', did: dan.did, cid }
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: true, ref: 'mod-1' } })
  assert.deepEqual(await keys(`quarantine/${dan.did}/`), [`quarantine/${dan.did}/${cid}`])
  assert.deepEqual(await keys(`blocks/${dan.did}/`), [])
  const refused = await clientFailure(pds.agent().com.atproto.sync.getBlob({ did: dan.did, cid }))
  assert.deepEqual([refused.status, refused.message], [400, 'Blob not found'])
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: false } })
  assert.deepEqual(await keys(`quarantine/${dan.did}/`), [])
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${dan.did}&cid=${cid}`)
  assert.equal(res.status, 200)
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes)))
})

test('an upload no record came to use is swept once its grace period is over: row and object', async () => {
  const erin = await pds.createAccount('erin')
  const up = await erin.agent.uploadBlob(pngBytes(3), { encoding: 'image/png' })
  const cid = up.data.blob.ref.toString()
  assert.equal((await keys(`tmp/${erin.did}/`)).length, 1)
  const s = pds.hearth.services
  const store = s.actors.get(erin.did)!
  // Not yet: the grace period has not passed.
  let res = await collectUntethered(store.blobs, s.blobs, erin.did, Date.now(), s.config.hearth.blobGcGraceMs, { includePermanent: false })
  assert.deepEqual(res.blobs, [])
  // The sweep's own pass, as if the grace period were over.
  res = await collectUntethered(store.blobs, s.blobs, erin.did, Date.now() + s.config.hearth.blobGcGraceMs + 60_000, s.config.hearth.blobGcGraceMs, {
    includePermanent: false,
  })
  assert.deepEqual(res.blobs, [cid])
  assert.deepEqual(res.errors, [])
  assert.deepEqual(await keys(`tmp/${erin.did}/`), [])
  assert.equal(store.blobs.getBlobRow(cid), undefined)
  // A temporary object with no row at all (its bookkeeping never happened) goes too.
  await s.blobs.putTemp(erin.did, (async function* () {
    yield new Uint8Array([1, 2, 3])
  })())
  assert.equal((await keys(`tmp/${erin.did}/`)).length, 1)
  res = await collectUntethered(store.blobs, s.blobs, erin.did, Date.now() + s.config.hearth.blobGcGraceMs + 60_000, s.config.hearth.blobGcGraceMs, {
    includePermanent: false,
  })
  assert.equal(res.orphanTempFiles, 1)
  assert.deepEqual(await keys(`tmp/${erin.did}/`), [])
})

test('migration: importRepo of a repo with images, listMissingBlobs, then uploadBlob makes them permanent', async () => {
  const frank = await pds.createAccount('frank')
  const images = [pngBytes(10), pngBytes(11)]
  const cids: string[] = []
  for (const img of images) cids.push((await postImage(frank.agent, img)).cid)
  const car = new Uint8Array(await (await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${frank.did}`)).arrayBuffer())
  // The account arrives empty-handed: its blobs are gone from the bucket (as on a new host).
  await pds.hearth.services.blobs.deleteAll(frank.did)
  pds.hearth.services.actors.get(frank.did)!.db.prepare('DELETE FROM blob').run()
  const imported = await fetch(`${pds.url}/xrpc/com.atproto.repo.importRepo`, {
    method: 'POST',
    headers: { authorization: `Bearer ${frank.agent.session?.accessJwt}`, 'content-type': 'application/vnd.ipld.car' },
    body: car,
  })
  assert.equal(imported.status, 200, await imported.text())
  const missing = await frank.agent.com.atproto.repo.listMissingBlobs({})
  assert.deepEqual(missing.data.blobs.map((b) => b.cid).sort(), [...cids].sort())
  for (const img of images) await frank.agent.uploadBlob(img, { encoding: 'image/png' })
  assert.deepEqual((await frank.agent.com.atproto.repo.listMissingBlobs({})).data.blobs, [])
  assert.deepEqual(await keys(`tmp/${frank.did}/`), [])
  assert.deepEqual(await keys(`blocks/${frank.did}/`), cids.map((c) => `blocks/${frank.did}/${c}`).sort())
  for (const [i, cid] of cids.entries()) {
    const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${frank.did}&cid=${cid}`)
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(images[i])))
  }
})

test('account deletion removes every object of the account (blocks, tmp, quarantine) and no other', async () => {
  const gina = await pds.createAccount('gina')
  const other = await pds.createAccount('other')
  const { cid } = await postImage(gina.agent, pngBytes(20))
  await postImage(gina.agent, pngBytes(21))
  await gina.agent.uploadBlob(pngBytes(22), { encoding: 'image/png' }) // stays temporary
  const { cid: otherCid } = await postImage(other.agent, pngBytes(23))
  await adminAgent().com.atproto.admin.updateSubjectStatus({
    subject: { $type: 'com.atproto.admin.defs#repoBlobRef', did: gina.did, cid },
    takedown: { applied: true },
  })
  assert.equal((await keys(`quarantine/${gina.did}/`)).length, 1)
  assert.equal((await keys(`tmp/${gina.did}/`)).length, 1)
  await adminAgent().com.atproto.admin.deleteAccount({ did: gina.did })
  for (const prefix of ['blocks', 'tmp', 'quarantine']) assert.deepEqual(await keys(`${prefix}/${gina.did}/`), [], prefix)
  assert.deepEqual(await keys(`blocks/${other.did}/`), [`blocks/${other.did}/${otherCid}`])
})
