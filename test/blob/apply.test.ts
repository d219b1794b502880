import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { test } from 'node:test'
import { acceptUpload, applyBlobPlan, applyBlobTakedown, finishPendingBlobs } from '../../src/actions/blob-apply.ts'
import { BlobNotFoundError } from '../../src/blob/disk-store.ts'
import { blobRefsInRecord } from '../../src/actor/blobs.ts'
import { writeTx } from '../../src/storage/sqlite.ts'
import { XrpcError } from '../../src/errors.ts'
import { chunked, DID, fixture } from './helpers.ts'
import { jpeg, png } from './samples.ts'

const uri = (rkey: string) => `at://${DID}/app.bsky.feed.post/${rkey}`
const post = (image: unknown) => ({ $type: 'app.bsky.feed.post', text: 'x', embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image }] } })

test('upload, post, delete: the blob goes temp -> permanent -> gone', async () => {
  const f = fixture()
  try {
    const temp = await f.store.putTemp(DID, chunked(png, 10))
    // The client said octet-stream; the sniffed type wins.
    const ref = await acceptUpload(f.blobs, f.store, DID, temp, 'application/octet-stream')
    assert.equal(ref.mimeType, 'image/png')
    assert.equal(ref.size, png.length)
    assert.equal(f.blobs.getBlobRow(ref.ref.$link)?.tempKey, temp.key)
    await assert.rejects(f.store.getStream(DID, ref.ref), BlobNotFoundError, 'not served before a record uses it')

    const record = post(ref)
    const plan = writeTx(f.db, () => f.blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: blobRefsInRecord(record) }]))
    const outcome = await applyBlobPlan(f.blobs, f.store, DID, plan)
    assert.equal(outcome.madePermanent, 1)
    assert.deepEqual(outcome.failed, [])
    assert.equal(f.blobs.getBlobRow(ref.ref.$link)?.tempKey, null)
    assert.ok(Buffer.from(await f.store.getBytes(DID, ref.ref)).equals(png))
    assert.equal(await f.store.hasTemp(DID, temp.key), false)

    const plan2 = writeTx(f.db, () => f.blobs.processWriteBlobs([{ action: 'delete', uri: uri('1') }]))
    await applyBlobPlan(f.blobs, f.store, DID, plan2)
    assert.equal(f.blobs.getBlobRow(ref.ref.$link), undefined)
    assert.equal(await f.store.hasStored(DID, ref.ref), false)
  } finally {
    f.close()
  }
})

test('unsniffable bytes are recorded with the request Content-Type', async () => {
  const f = fixture()
  try {
    const temp = await f.store.putTemp(DID, chunked(Buffer.from('plain text body'), 4))
    const ref = await acceptUpload(f.blobs, f.store, DID, temp, 'text/plain; charset=utf-8')
    assert.equal(ref.mimeType, 'text/plain')
  } finally {
    f.close()
  }
})

test('a crash between the commit and the move is finished when the store is next opened', async () => {
  const f = fixture()
  try {
    const temp = await f.store.putTemp(DID, chunked(jpeg, 16))
    const ref = await acceptUpload(f.blobs, f.store, DID, temp, 'image/jpeg')
    writeTx(f.db, () => f.blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: blobRefsInRecord(post(ref)) }]))
    // ...the process dies here, before applyBlobPlan.
    assert.deepEqual(f.blobs.pendingPermanent(), [{ cid: ref.ref.$link, tempKey: temp.key }])
    const outcome = await finishPendingBlobs(f.blobs, f.store, DID)
    assert.equal(outcome.madePermanent, 1)
    assert.deepEqual(f.blobs.pendingPermanent(), [])
    assert.ok(Buffer.from(await f.store.getBytes(DID, ref.ref)).equals(jpeg))
  } finally {
    f.close()
  }
})

test('a failed move does not throw after the commit: the row stays pending for a retry', async () => {
  const f = fixture()
  try {
    const temp = await f.store.putTemp(DID, chunked(png, 64))
    const ref = await acceptUpload(f.blobs, f.store, DID, temp, null)
    const plan = writeTx(f.db, () => f.blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: blobRefsInRecord(post(ref)) }]))
    rmSync(f.store.tempPath(DID, temp.key))
    const outcome = await applyBlobPlan(f.blobs, f.store, DID, plan)
    assert.equal(outcome.madePermanent, 0)
    assert.equal(outcome.failed.length, 1)
    assert.ok(outcome.failed[0].error instanceof BlobNotFoundError)
    assert.equal(f.blobs.getBlobRow(ref.ref.$link)?.tempKey, temp.key)
  } finally {
    f.close()
  }
})

test('re-uploads: the superseded temp file is deleted; after a takedown the upload is refused and dropped', async () => {
  const f = fixture()
  try {
    const a = await f.store.putTemp(DID, chunked(png, 7))
    await acceptUpload(f.blobs, f.store, DID, a, 'image/png')
    const b = await f.store.putTemp(DID, chunked(png, 9))
    await acceptUpload(f.blobs, f.store, DID, b, 'image/png')
    assert.equal(await f.store.hasTemp(DID, a.key), false)
    assert.equal(await f.store.hasTemp(DID, b.key), true)

    const plan = writeTx(f.db, () =>
      f.blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: [{ cid: b.cid, mimeType: 'image/png', size: b.size }] }]),
    )
    await applyBlobPlan(f.blobs, f.store, DID, plan)
    await applyBlobTakedown(f.blobs, f.store, DID, b.cid.$link, { applied: true, ref: 'report-1' })
    assert.equal(f.blobs.getBlobMetadata(b.cid.$link), undefined)
    await assert.rejects(f.store.getStream(DID, b.cid), BlobNotFoundError)

    const c = await f.store.putTemp(DID, chunked(png, 11))
    await assert.rejects(
      acceptUpload(f.blobs, f.store, DID, c, 'image/png'),
      (err: unknown) => err instanceof XrpcError && err.status === 400 && err.error === 'InvalidRequest',
    )
    assert.equal(await f.store.hasTemp(DID, c.key), false)

    await applyBlobTakedown(f.blobs, f.store, DID, b.cid.$link, { applied: false })
    assert.ok(Buffer.from(await f.store.getBytes(DID, b.cid)).equals(png))
    assert.deepEqual(f.blobs.getBlobMetadata(b.cid.$link), { mimeType: 'image/png', size: png.length })
    // Taking down twice, or a blob whose file is missing, is not an error.
    await applyBlobTakedown(f.blobs, f.store, DID, b.cid.$link, { applied: true })
    await applyBlobTakedown(f.blobs, f.store, DID, b.cid.$link, { applied: true })
  } finally {
    f.close()
  }
})

test('migration order: records imported first, blobs uploaded after are made permanent at once', async () => {
  const f = fixture()
  try {
    const temp = await f.store.putTemp(DID, chunked(jpeg, 100))
    f.blobs.linkRecordBlobs(uri('imported'), [{ cid: temp.cid, mimeType: 'image/jpeg', size: temp.size }])
    const ref = await acceptUpload(f.blobs, f.store, DID, temp, 'image/jpeg')
    assert.equal(f.blobs.getBlobRow(ref.ref.$link)?.tempKey, null)
    assert.equal(await f.store.hasStored(DID, ref.ref), true)
    // The permanent file lost (e.g. a data directory copied without blobs): uploading it again
    // puts it back rather than leaving a row without a file.
    await f.store.delete(DID, ref.ref)
    const again = await f.store.putTemp(DID, chunked(jpeg, 100))
    await acceptUpload(f.blobs, f.store, DID, again, 'image/jpeg')
    assert.ok(Buffer.from(await f.store.getBytes(DID, ref.ref)).equals(jpeg))
    assert.equal(await f.store.hasTemp(DID, again.key), false)
  } finally {
    f.close()
  }
})

test('file work runs in the order of the commits that decided it, whatever the awaits', async () => {
  const f = fixture()
  try {
    const { db, blobs, store } = f
    const first = await store.putTemp(DID, chunked(png, 50))
    const ref = await acceptUpload(blobs, store, DID, first, 'image/png')
    const again = await store.putTemp(DID, chunked(png, 50)) // the same image, uploaded once more

    // Post it, delete the post, and accept the second upload, all before any file work runs.
    const p1 = applyBlobPlan(blobs, store, DID, blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: [{ cid: ref.ref, mimeType: 'image/png', size: ref.size }] }]))
    const p2 = applyBlobPlan(blobs, store, DID, blobs.processWriteBlobs([{ action: 'delete', uri: uri('1') }]))
    const accepted = acceptUpload(blobs, store, DID, again, 'image/png')
    assert.equal(blobs.getBlobRow(ref.ref.$link), undefined, 'the delete dropped the row at once')
    assert.equal((await p1).madePermanent, 1)
    await p2
    await accepted
    // The re-upload came after the delete: its row and file stand, ready for a new post.
    assert.equal(blobs.getBlobRow(ref.ref.$link)?.tempKey, again.key)
    const p3 = await applyBlobPlan(blobs, store, DID, blobs.processWriteBlobs([{ action: 'create', uri: uri('2'), blobs: [{ cid: ref.ref, mimeType: 'image/png', size: ref.size }] }]))
    assert.equal(p3.madePermanent, 1)
    assert.ok(Buffer.from(await store.getBytes(DID, ref.ref)).equals(png))
  } finally {
    f.close()
  }
})

test('a delete does not remove a file that a newer row needs again', async () => {
  const f = fixture()
  try {
    const { db, blobs, store } = f
    const t = await store.putTemp(DID, chunked(jpeg, 50))
    const ref = await acceptUpload(blobs, store, DID, t, 'image/jpeg')
    await applyBlobPlan(blobs, store, DID, blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: blobRefsInRecord(post(ref)) }]))
    const plan = blobs.processWriteBlobs([{ action: 'delete', uri: uri('1') }])
    assert.equal(plan.deleteFiles.length, 1)
    // Before the plan runs, the same bytes are tracked again (a row for that CID exists anew).
    blobs.trackUntethered({ cid: ref.ref, mimeType: 'image/jpeg', size: ref.size, tempKey: 'k2' })
    await applyBlobPlan(blobs, store, DID, plan)
    assert.equal(await store.hasStored(DID, ref.ref), true)
  } finally {
    f.close()
  }
})

test('serialize runs an account\'s work in call order; a failure does not block what follows', async () => {
  const f = fixture()
  try {
    const order: string[] = []
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))
    const a = f.store.serialize(DID, async () => {
      await wait(20)
      order.push('a')
    })
    const b = f.store.serialize(DID, async () => {
      order.push('b')
      throw new Error('b failed')
    })
    const c = f.store.serialize(DID, async () => {
      order.push('c')
      return 42
    })
    const other = f.store.serialize('did:plc:otheraccountaaaaaaaaaaa', async () => {
      order.push('other')
    })
    await other
    await a
    await assert.rejects(b, /b failed/)
    assert.equal(await c, 42)
    assert.deepEqual(order, ['other', 'a', 'b', 'c'])
  } finally {
    f.close()
  }
})
