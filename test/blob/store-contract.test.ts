// The same contract, run against both blob stores: the disk store in a temp folder and the S3
// store against a real S3-compatible server (s3rver, its own process) through @aws-sdk/client-s3.
// What is particular to one store (file modes, fsync, the S3 key layout) is tested beside it.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { DiskBlobStore } from '../../src/blob/disk-store.ts'
import { S3BlobStore } from '../../src/blob/s3-store.ts'
import { type BlobBody, BlobNotFoundError, type BlobStore, BlobTooLargeError } from '../../src/blob/store.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'
import { chunked, DID, readAll } from './helpers.ts'
import { png } from './samples.ts'

const OTHER = 'did:plc:blobtestbbbbbbbbbbbbbbbb'

/** The bytes of a getForSend answer, its buffer given back after they are copied out. */
async function sendable(body: BlobBody): Promise<Buffer> {
  if ('stream' in body) return readAll(body.stream)
  const copy = Buffer.from(body.bytes)
  body.release()
  return copy
}

let s3: TestS3
let diskDir: string
const stores: Array<{ name: string; make: () => Promise<BlobStore> }> = [
  { name: 'disk', make: async () => new DiskBlobStore({ location: join(diskDir, `blocks-${Math.random()}`) }) },
  {
    name: 's3',
    make: () =>
      S3BlobStore.create({
        provider: 's3',
        bucket: s3.bucket,
        region: 'us-east-1',
        endpoint: s3.url,
        forcePathStyle: true,
        credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
        uploadTimeoutMs: 20_000,
        requestTimeoutMs: 6_000,
      }),
  },
]

before(async () => {
  s3 = await startS3()
  diskDir = mkdtempSync(join(tmpdir(), 'hearth-blob-contract-'))
})
after(async () => {
  await s3.close()
  rmSync(diskDir, { recursive: true, force: true })
})

for (const { name, make } of stores) {
  describe(`${name} blob store`, () => {
    test('check passes; streamed uploads (one part, and several) get the CID of their bytes and are served back', async () => {
      const store = await make()
      try {
        await store.check()
        for (const size of [300_000, 11 * 1024 * 1024 + 7]) {
          const bytes = randomBytes(size)
          const temp = await store.putTemp(DID, chunked(bytes, 65_536))
          assert.equal(temp.cid.$link, cidForRaw(bytes).$link)
          assert.equal(temp.size, size)
          assert.match(temp.key, /^[a-z2-7]{52}$/)
          assert.equal(await store.hasTemp(DID, temp.key), true)
          assert.equal(await store.hasStored(DID, temp.cid), false)
          await store.makePermanent(DID, temp.key, temp.cid)
          assert.equal(await store.hasTemp(DID, temp.key), false)
          assert.equal(await store.storedSize(DID, temp.cid), size)
          assert.ok((await readAll(await store.getStream(DID, temp.cid))).equals(bytes))
          assert.ok(Buffer.from(await store.getBytes(DID, temp.cid)).equals(bytes))
          assert.ok((await sendable(await store.getForSend(DID, temp.cid))).equals(bytes))
        }
        const empty = await store.putTemp(DID, chunked(new Uint8Array(0), 1))
        assert.equal(empty.size, 0)
        assert.equal(empty.cid.$link, cidForRaw(new Uint8Array(0)).$link)
      } finally {
        store.close()
      }
    })

    test('the type is sniffed from the bytes', async () => {
      const store = await make()
      try {
        const temp = await store.putTemp(DID, chunked(png, 7))
        assert.equal(temp.sniffedMime, 'image/png')
      } finally {
        store.close()
      }
    })

    test('an upload over the limit is refused with 413 and leaves nothing behind', async () => {
      const store = await make()
      try {
        await assert.rejects(store.putTemp(OTHER, chunked(randomBytes(200_000), 10_000), { maxSize: 100_000 }), (err) => {
          assert.ok(err instanceof BlobTooLargeError)
          assert.equal(err.status, 413)
          return true
        })
        assert.deepEqual(await store.listTemp(OTHER), [])
      } finally {
        store.close()
      }
    })

    test('a source that fails mid-upload leaves nothing behind', async () => {
      const store = await make()
      try {
        const did = 'did:plc:blobtestcccccccccccccccc'
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield randomBytes(100_000)
          throw new Error('client went away')
        }
        await assert.rejects(store.putTemp(did, failing()), /client went away/)
        assert.deepEqual(await store.listTemp(did), [])
      } finally {
        store.close()
      }
    })

    test('makePermanent is idempotent: a move another mover already made is not an error', async () => {
      const store = await make()
      try {
        const bytes = randomBytes(50_000)
        const a = await store.putTemp(DID, chunked(bytes, 4096))
        await store.makePermanent(DID, a.key, a.cid)
        // The temp object is gone (NoSuchKey on the copy) but the blob is in place.
        await store.makePermanent(DID, a.key, a.cid)
        assert.ok(Buffer.from(await store.getBytes(DID, a.cid)).equals(bytes))
        // The same bytes uploaded again: the second move just drops its temp object.
        const b = await store.putTemp(DID, chunked(bytes, 4096))
        await store.makePermanent(DID, b.key, b.cid)
        assert.equal(await store.hasTemp(DID, b.key), false)
        await assert.rejects(store.makePermanent(DID, 'a'.repeat(52), cidForRaw(randomBytes(8))), BlobNotFoundError)
      } finally {
        store.close()
      }
    })

    test('quarantine hides a blob from reads and restores it; missing blobs are BlobNotFoundError', async () => {
      const store = await make()
      try {
        const bytes = randomBytes(10_000)
        const cid = cidForRaw(bytes)
        await store.putPermanent(DID, cid, bytes)
        await store.quarantine(DID, cid)
        assert.equal(await store.isQuarantined(DID, cid), true)
        assert.equal(await store.hasStored(DID, cid), false)
        await assert.rejects(store.getStream(DID, cid), BlobNotFoundError)
        await assert.rejects(store.getBytes(DID, cid), BlobNotFoundError)
        await assert.rejects(store.getForSend(DID, cid), BlobNotFoundError)
        assert.equal(await store.storedSize(DID, cid), undefined)
        await store.unquarantine(DID, cid)
        assert.equal(await store.isQuarantined(DID, cid), false)
        assert.ok(Buffer.from(await store.getBytes(DID, cid)).equals(bytes))
        await assert.rejects(store.quarantine(DID, cidForRaw(randomBytes(4))), BlobNotFoundError)
      } finally {
        store.close()
      }
    })

    test('delete, deleteMany, listing, and deleteAll removing every object of one account only', async () => {
      const store = await make()
      try {
        const did = 'did:plc:blobtestdddddddddddddddd'
        const cids = []
        for (let i = 0; i < 3; i++) {
          const bytes = randomBytes(1000 + i)
          const cid = cidForRaw(bytes)
          await store.putPermanent(did, cid, bytes)
          cids.push(cid)
        }
        const temp = await store.putTemp(did, chunked(randomBytes(500), 100))
        await store.quarantine(did, cids[2])
        const otherBytes = randomBytes(700)
        await store.putPermanent(OTHER, cidForRaw(otherBytes), otherBytes)
        assert.deepEqual((await store.listStored(did)).map((f) => f.name).sort(), [cids[0].$link, cids[1].$link].sort())
        const temps = await store.listTemp(did)
        assert.deepEqual(temps.map((f) => [f.name, f.size]), [[temp.key, 500]])
        assert.ok(Math.abs(temps[0].mtimeMs - Date.now()) < 60_000)
        await store.delete(did, cids[0])
        await store.delete(did, cids[0]) // a missing blob is not an error
        assert.equal(await store.hasStored(did, cids[0]), false)
        await store.deleteMany(did, [cids[1]])
        assert.deepEqual(await store.listStored(did), [])
        const extra = randomBytes(64)
        await store.putPermanent(did, cidForRaw(extra), extra)
        await store.deleteAll(did)
        assert.deepEqual(await store.listStored(did), [])
        assert.deepEqual(await store.listTemp(did), [])
        assert.equal(await store.isQuarantined(did, cids[2]), false)
        assert.equal(await store.hasStored(OTHER, cidForRaw(otherBytes)), true)
      } finally {
        store.close()
      }
    })

    test('serialize runs one account’s work in call order', async () => {
      const store = await make()
      try {
        const order: number[] = []
        await Promise.all([
          store.serialize(DID, async () => {
            await new Promise((r) => setTimeout(r, 20))
            order.push(1)
          }),
          store.serialize(DID, async () => {
            order.push(2)
          }),
        ])
        assert.deepEqual(order, [1, 2])
      } finally {
        store.close()
      }
    })
  })
}

test('the S3 store keeps the official key layout: tmp/<did>/<key>, blocks/<did>/<cid>, quarantine/<did>/<cid>', async () => {
  const store = await stores[1].make()
  const raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  })
  const keys = async (prefix: string) =>
    ((await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key)
  try {
    const did = 'did:web:localhost%3A2583'
    const bytes = randomBytes(2000)
    const temp = await store.putTemp(did, chunked(bytes, 512))
    assert.deepEqual(await keys(`tmp/${did}/`), [`tmp/${did}/${temp.key}`])
    await store.makePermanent(did, temp.key, temp.cid)
    assert.deepEqual(await keys(`tmp/${did}/`), [])
    assert.deepEqual(await keys(`blocks/${did}/`), [`blocks/${did}/${temp.cid.$link}`])
    const got = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `blocks/${did}/${temp.cid.$link}` }))
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(bytes))
    await store.quarantine(did, temp.cid)
    assert.deepEqual(await keys(`quarantine/${did}/`), [`quarantine/${did}/${temp.cid.$link}`])
    assert.deepEqual(await keys(`blocks/${did}/`), [])
    await store.deleteAll(did)
    assert.deepEqual(await keys(`quarantine/${did}/`), [])
    // The access check leaves no probe behind.
    await store.check()
    assert.deepEqual((await keys('tmp/')).filter((k) => !k?.startsWith('tmp/did:')), [])
  } finally {
    raw.destroy()
    store.close()
  }
})
