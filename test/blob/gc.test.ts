import assert from 'node:assert/strict'
import { utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { collectUntethered } from '../../src/actions/blob-gc.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { XrpcError } from '../../src/errors.ts'
import { chunked, DID, type Fixture, fixture } from './helpers.ts'

const HOUR = 3600_000
const NOW = Date.parse('2025-06-01T12:00:00.000Z')
const GRACE = 24 * HOUR
const OLD = new Date(NOW - 48 * HOUR).toISOString()
const RECENT = new Date(NOW - 1 * HOUR).toISOString()

async function upload(f: Fixture, text: string, createdAt: string, permanent = false) {
  const temp = await f.store.putTemp(DID, chunked(Buffer.from(text), 4))
  f.blobs.trackUntethered({ cid: temp.cid, mimeType: 'text/plain', size: temp.size, tempKey: temp.key, createdAt })
  if (permanent) {
    await f.store.makePermanent(DID, temp.key, temp.cid)
    f.blobs.markPermanent(temp.cid.$link, temp.key)
  }
  return temp
}

function age(path: string, ms: number) {
  const t = new Date(ms)
  utimesSync(path, t, t)
}

test('GC removes old untethered uploads and leaves referenced, recent and taken-down blobs', async () => {
  const f = fixture()
  try {
    const oldTemp = await upload(f, 'old and never used', OLD)
    const recentTemp = await upload(f, 'uploaded an hour ago', RECENT)
    const usedPermanent = await upload(f, 'used by a post', OLD, true)
    f.blobs.linkRecordBlobs(`at://${DID}/app.bsky.feed.post/1`, [{ cid: usedPermanent.cid, mimeType: 'text/plain', size: usedPermanent.size }])
    const usedPending = await upload(f, 'committed, move pending', OLD)
    f.blobs.linkRecordBlobs(`at://${DID}/app.bsky.feed.post/2`, [{ cid: usedPending.cid, mimeType: 'text/plain', size: usedPending.size }])
    const orphanPermanent = await upload(f, 'permanent, record gone', OLD, true)
    const takenDown = await upload(f, 'taken down', OLD, true)
    f.blobs.setBlobTakedown(takenDown.cid.$link, { applied: true })
    await f.store.quarantine(DID, takenDown.cid)

    const res = await collectUntethered(f.blobs, f.store, DID, NOW, GRACE)
    assert.deepEqual(res.blobs.sort(), [oldTemp.cid.$link, orphanPermanent.cid.$link].sort())
    assert.deepEqual(res.errors, [])

    assert.equal(f.blobs.getBlobRow(oldTemp.cid.$link), undefined)
    assert.equal(await f.store.hasTemp(DID, oldTemp.key), false)
    assert.equal(f.blobs.getBlobRow(orphanPermanent.cid.$link), undefined)
    assert.equal(await f.store.hasStored(DID, orphanPermanent.cid), false)

    assert.ok(f.blobs.getBlobRow(recentTemp.cid.$link))
    assert.equal(await f.store.hasTemp(DID, recentTemp.key), true)
    assert.ok(f.blobs.getBlobRow(usedPermanent.cid.$link))
    assert.equal(await f.store.hasStored(DID, usedPermanent.cid), true)
    assert.equal(f.blobs.getBlobRow(usedPending.cid.$link)?.tempKey, usedPending.key)
    assert.equal(await f.store.hasTemp(DID, usedPending.key), true)
    assert.ok(f.blobs.getBlobRow(takenDown.cid.$link))
    assert.equal(await f.store.isQuarantined(DID, takenDown.cid), true)

    // Run again: nothing more to do.
    const again = await collectUntethered(f.blobs, f.store, DID, NOW, GRACE)
    assert.deepEqual(again.blobs, [])
  } finally {
    f.close()
  }
})

test('with includePermanent false only temp uploads are collected', async () => {
  const f = fixture()
  try {
    const oldTemp = await upload(f, 'temp', OLD)
    const perm = await upload(f, 'perm', OLD, true)
    const res = await collectUntethered(f.blobs, f.store, DID, NOW, GRACE, { includePermanent: false })
    assert.deepEqual(res.blobs, [oldTemp.cid.$link])
    assert.ok(f.blobs.getBlobRow(perm.cid.$link))
    assert.equal(await f.store.hasStored(DID, perm.cid), true)
  } finally {
    f.close()
  }
})

test('the grace period starts again when the same bytes are uploaded again', async () => {
  const f = fixture()
  try {
    const first = await upload(f, 'same bytes', OLD)
    const second = await upload(f, 'same bytes', RECENT)
    assert.equal(second.cid.$link, first.cid.$link)
    const res = await collectUntethered(f.blobs, f.store, DID, NOW, GRACE)
    assert.deepEqual(res.blobs, [])
    assert.equal(f.blobs.getBlobRow(first.cid.$link)?.tempKey, second.key)
  } finally {
    f.close()
  }
})

test('files no row accounts for are removed once old: temp leftovers, stray stored files, staging files', async () => {
  const f = fixture()
  try {
    const keep = await upload(f, 'row exists', RECENT)
    const tempDir = join(f.dir, 'blocks', 'tempt', DID)
    const storedDir = join(f.dir, 'blocks', DID)
    const strayCid = cidForRaw(Buffer.from('stray')).$link
    const referencedCid = cidForRaw(Buffer.from('referenced but row missing')).$link
    await f.store.putPermanent(DID, cidForRaw(Buffer.from('stray')), Buffer.from('stray'))
    await f.store.putPermanent(DID, cidForRaw(Buffer.from('referenced but row missing')), Buffer.from('referenced but row missing'))
    f.blobs.linkRecordBlobs(`at://${DID}/app.bsky.feed.post/9`, [{ cid: cidForRaw(Buffer.from('referenced but row missing')), mimeType: 'x/y', size: 26 }])
    writeFileSync(join(tempDir, 'crashedupload'), 'partial')
    writeFileSync(join(tempDir, 'inflightupload'), 'partial')
    writeFileSync(join(storedDir, '.staging-leftover'), 'partial')
    writeFileSync(join(storedDir, 'README'), 'not ours')
    for (const p of [join(tempDir, 'crashedupload'), join(storedDir, strayCid), join(storedDir, referencedCid), join(storedDir, '.staging-leftover'), join(storedDir, 'README'), f.store.tempPath(DID, keep.key)]) {
      age(p, NOW - 48 * HOUR)
    }
    age(join(tempDir, 'inflightupload'), NOW - 60_000)

    const res = await collectUntethered(f.blobs, f.store, DID, NOW, GRACE)
    assert.equal(res.orphanTempFiles, 1)
    assert.equal(res.orphanStoredFiles, 2)
    const temp = (await f.store.listTemp(DID)).map((e) => e.name).sort()
    assert.deepEqual(temp, [keep.key, 'inflightupload'].sort())
    const stored = (await f.store.listStored(DID)).map((e) => e.name).sort()
    assert.deepEqual(stored, ['README', referencedCid].sort())
  } finally {
    f.close()
  }
})

test('a blob collected before a commit referenced it fails that commit with BlobNotFound', async () => {
  const f = fixture()
  try {
    const t = await upload(f, 'late post', OLD)
    await collectUntethered(f.blobs, f.store, DID, NOW, GRACE)
    assert.throws(
      () => f.blobs.verifyBlobRefs([{ cid: t.cid, mimeType: 'text/plain', size: t.size }]),
      (err: unknown) => err instanceof XrpcError && err.error === 'BlobNotFound',
    )
  } finally {
    f.close()
  }
})
