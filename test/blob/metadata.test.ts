import assert from 'node:assert/strict'
import { test } from 'node:test'
import { blobRefsInRecord } from '../../src/actor/blobs.ts'
import { decodeCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor, cidForRaw } from '../../src/repo/cid.ts'
import { jsonToLex } from '../../src/repo/data-model.ts'
import { DID, fixture } from './helpers.ts'
import { xrpcError } from '../helpers/xrpc-error.ts'

const cidA = cidForRaw(Buffer.from('image a'))
const cidB = cidForRaw(Buffer.from('image b'))
const cidC = cidForRaw(Buffer.from('video c'))
const uri = (rkey: string) => `at://${DID}/app.bsky.feed.post/${rkey}`
const blobJson = (cid: Cid, mimeType: string, size: number) => ({ $type: 'blob', ref: { $link: cid.$link }, mimeType, size })


test('blob refs are found in nested records: image embeds, arrays, unions, record-with-media', () => {
  const post = jsonToLex({
    $type: 'app.bsky.feed.post',
    text: 'hi',
    createdAt: '2024-01-01T00:00:00.000Z',
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: { uri: uri('x'), cid: { $link: cidForCbor(Buffer.from('r')).$link } } },
      media: {
        $type: 'app.bsky.embed.images',
        images: [
          { alt: 'one', image: blobJson(cidA, 'image/png', 10), aspectRatio: { width: 1, height: 1 } },
          { alt: 'two', image: blobJson(cidB, 'image/jpeg', 20) },
        ],
      },
    },
    facets: [[{ deep: [blobJson(cidC, 'video/mp4', 30)] }]],
  })
  const refs = blobRefsInRecord(post)
  assert.deepEqual(
    refs.map((r) => [r.cid.$link, r.mimeType, r.size]),
    [
      [cidA.$link, 'image/png', 10],
      [cidB.$link, 'image/jpeg', 20],
      [cidC.$link, 'video/mp4', 30],
    ],
  )
  // The same record after a CBOR round trip (as read back from the repo).
  const decoded = decodeCbor(encodeCbor(post))
  assert.deepEqual(
    blobRefsInRecord(decoded).map((r) => r.cid.$link),
    refs.map((r) => r.cid.$link),
  )
  // A profile: avatar and banner.
  const profile = jsonToLex({ $type: 'app.bsky.actor.profile', avatar: blobJson(cidA, 'image/png', 10), banner: blobJson(cidB, 'image/jpeg', 20) })
  assert.equal(blobRefsInRecord(profile).length, 2)
  assert.deepEqual(blobRefsInRecord(jsonToLex({ $type: 'app.bsky.feed.like', subject: { uri: uri('y'), cid: { $link: cidA.$link } } })), [])
})

test('objects that are not quite blob refs are walked into, not taken as refs', () => {
  const inner = { $type: 'blob', ref: cidB, mimeType: 'image/png', size: 5 }
  const refs = blobRefsInRecord({
    extraKey: { $type: 'blob', ref: cidA, mimeType: 'image/png', size: 1, alt: 'x', nested: inner },
    noSlash: { $type: 'blob', ref: cidA, mimeType: 'png', size: 1 },
    badSize: { $type: 'blob', ref: cidA, mimeType: 'image/png', size: -2 },
    stringRef: { $type: 'blob', ref: cidA.$link, mimeType: 'image/png', size: 1 },
    legacySize: { $type: 'blob', ref: cidC, mimeType: 'image/png', size: -1 },
  })
  assert.deepEqual(
    refs.map((r) => [r.cid.$link, r.size]),
    [
      [cidB.$link, 5],
      [cidC.$link, -1],
    ],
  )
})

test('legacy blob refs are refused on write, as the official (400 InvalidRequest)', () => {
  assert.throws(
    () => blobRefsInRecord({ $type: 'app.bsky.actor.profile', avatar: { cid: cidA.$link, mimeType: 'image/png' } }),
    (err: unknown) => xrpcError(400, 'InvalidRequest')(err) && /Legacy blobs are not allowed/.test((err as Error).message),
  )
  // Only that exact shape: a `cid` that is not a CID, or an extra key, is just data.
  assert.deepEqual(blobRefsInRecord({ x: { cid: 'not a cid', mimeType: 'image/png' } }), [])
  assert.deepEqual(blobRefsInRecord({ x: { cid: cidA.$link, mimeType: 'image/png', other: 1 } }), [])
})

test('a deeply nested record does not overflow the stack', () => {
  let v: unknown = { $type: 'blob', ref: cidA, mimeType: 'image/png', size: 1 }
  for (let i = 0; i < 200_000; i++) v = [v]
  assert.equal(blobRefsInRecord({ deep: v }).length, 1)
})

test('trackUntethered: a new upload, the same bytes again, a permanent blob again, a taken-down blob', () => {
  const f = fixture()
  try {
    const { db, blobs } = f
    const first = blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'key1', createdAt: '2024-01-01T00:00:00.000Z' })
    assert.deepEqual(first.ref, { $type: 'blob', ref: cidA, mimeType: 'image/png', size: 10 })
    assert.deepEqual(first.plan, { makePermanent: [], deleteFiles: [], discardTempKeys: [] })
    assert.equal(blobs.getBlobRow(cidA.$link)?.tempKey, 'key1')

    // Uploaded again before any record used it: one row, the new temp file, the old one dropped.
    const again = blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'key2', createdAt: '2024-01-02T00:00:00.000Z' })
    assert.deepEqual(again.plan.discardTempKeys, ['key1'])
    assert.equal(blobs.blobCount(), 1)
    const row = blobs.getBlobRow(cidA.$link)
    assert.equal(row?.tempKey, 'key2')
    assert.equal(row?.createdAt, '2024-01-02T00:00:00.000Z')

    // Once permanent, a re-upload changes no row; its temp file goes through makePermanent,
    // which only deletes it (or restores a missing permanent file).
    blobs.markPermanent(cidA.$link, 'key2')
    const third = blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'key3' })
    assert.deepEqual(third.plan.makePermanent, [{ cid: cidA.$link, tempKey: 'key3' }])
    assert.equal(blobs.getBlobRow(cidA.$link)?.tempKey, null)
    assert.equal(blobs.blobCount(), 1)

    blobs.setBlobTakedown(cidA.$link, { applied: true, ref: 'mod-1' })
    assert.throws(
      () => blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'key4' }),
      (err: unknown) => xrpcError(400, 'InvalidRequest')(err) && /takendown/.test((err as Error).message),
    )
  } finally {
    f.close()
  }
})

test('an upload that an already indexed record references is made permanent at once', () => {
  const f = fixture()
  try {
    f.blobs.linkRecordBlobs(uri('imported'), [{ cid: cidB, mimeType: 'image/jpeg', size: 20 }])
    assert.deepEqual(f.blobs.listMissingBlobs({ limit: 10 }), [{ cid: cidB.$link, recordUri: uri('imported') }])
    const res = f.blobs.trackUntethered({ cid: cidB, mimeType: 'image/jpeg', size: 20, tempKey: 'kb' })
    assert.deepEqual(res.plan.makePermanent, [{ cid: cidB.$link, tempKey: 'kb' }])
    assert.deepEqual(f.blobs.listMissingBlobs({ limit: 10 }), [])
  } finally {
    f.close()
  }
})

test('verifyBlobRefs: BlobNotFound, InvalidMimeType, InvalidSize; a taken-down blob is not found', () => {
  const f = fixture()
  try {
    const { db, blobs } = f
    blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'ka' })
    blobs.trackUntethered({ cid: cidB, mimeType: 'image/jpeg', size: 20, tempKey: 'kb' })
    assert.throws(() => blobs.verifyBlobRefs([{ cid: cidC, mimeType: 'video/mp4', size: 30 }]), xrpcError(400, 'BlobNotFound'))
    assert.throws(
      () => blobs.verifyBlobRefs([{ cid: cidA, mimeType: 'image/jpeg', size: 10 }]),
      (err: unknown) =>
        xrpcError(400, 'InvalidMimeType')(err) &&
        (err as Error).message === 'Referenced Mimetype does not match stored blob. Expected: image/png, Got: image/jpeg',
    )
    assert.throws(
      () => blobs.verifyBlobRefs([{ cid: cidA, mimeType: 'image/png', size: 11 }]),
      (err: unknown) =>
        xrpcError(400, 'InvalidSize')(err) && (err as Error).message === 'Referenced Size does not match stored blob. Expected: 10, Got: 11',
    )
    // Good refs, one repeated: each temp blob to be made permanent once.
    assert.deepEqual(
      blobs.verifyBlobRefs([
        { cid: cidA, mimeType: 'image/png', size: 10 },
        { cid: cidB, mimeType: 'image/jpeg', size: 20 },
        { cid: cidA, mimeType: 'image/png', size: 10 },
      ]),
      [
        { cid: cidA.$link, tempKey: 'ka' },
        { cid: cidB.$link, tempKey: 'kb' },
      ],
    )
    // A permanent blob is not re-checked (as the official), and needs no move.
    blobs.markPermanent(cidA.$link, 'ka')
    assert.deepEqual(blobs.verifyBlobRefs([{ cid: cidA, mimeType: 'image/whatever', size: 1 }]), [])
    blobs.setBlobTakedown(cidB.$link, { applied: true })
    assert.throws(() => blobs.verifyBlobRefs([{ cid: cidB, mimeType: 'image/jpeg', size: 20 }]), xrpcError(400, 'BlobNotFound'))
    assert.equal(blobs.getBlobTakedown(cidB.$link)?.applied, true)
    assert.equal(blobs.getBlobMetadata(cidB.$link), undefined, 'hidden from getBlob')
    blobs.setBlobTakedown(cidB.$link, { applied: false })
    assert.deepEqual(blobs.getBlobTakedown(cidB.$link), { applied: false })
    assert.deepEqual(blobs.getBlobMetadata(cidB.$link), { mimeType: 'image/jpeg', size: 20 })
  } finally {
    f.close()
  }
})

test('processWriteBlobs: link on create, unlink on delete and update, drop what nothing references', () => {
  const f = fixture()
  try {
    const { db, blobs } = f
    const A = { cid: cidA, mimeType: 'image/png', size: 10 }
    const B = { cid: cidB, mimeType: 'image/jpeg', size: 20 }
    blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'ka' })
    blobs.trackUntethered({ cid: cidB, mimeType: 'image/jpeg', size: 20, tempKey: 'kb' })

    const plan1 = blobs.processWriteBlobs([
      { action: 'create', uri: uri('1'), blobs: [A, B] },
      { action: 'create', uri: uri('2'), blobs: [A] },
    ])
    assert.deepEqual(plan1.makePermanent, [
      { cid: cidA.$link, tempKey: 'ka' },
      { cid: cidB.$link, tempKey: 'kb' },
    ])
    assert.deepEqual(plan1.deleteFiles, [])
    assert.deepEqual(blobs.getRecordBlobs(uri('1')).sort(), [cidA.$link, cidB.$link].sort())
    // Until the files are moved, the rows keep their temp keys: a crash here is recoverable.
    assert.deepEqual(blobs.pendingPermanent().map((p) => p.cid).sort(), [cidA.$link, cidB.$link].sort())
    for (const p of plan1.makePermanent) blobs.markPermanent(p.cid, p.tempKey)
    assert.deepEqual(blobs.pendingPermanent(), [])
    assert.equal(blobs.recordBlobCount(), 2)
    assert.deepEqual(blobs.listBlobs({ limit: 10 }), [cidA.$link, cidB.$link].sort())

    // Record 1 deleted: B is no longer referenced (dropped), A still is (by record 2).
    const plan2 = blobs.processWriteBlobs([{ action: 'delete', uri: uri('1') }])
    assert.deepEqual(plan2.deleteFiles, [{ cid: cidB.$link, tempKey: null }])
    assert.equal(blobs.getBlobRow(cidB.$link), undefined)
    assert.ok(blobs.getBlobRow(cidA.$link))

    // Within one commit, A moves from record 2 to record 3: it is kept.
    const plan3 = blobs.processWriteBlobs([
      { action: 'delete', uri: uri('2') },
      { action: 'create', uri: uri('3'), blobs: [A] },
    ])
    assert.deepEqual(plan3, { makePermanent: [], deleteFiles: [], discardTempKeys: [] })
    assert.deepEqual(blobs.getRecordBlobs(uri('3')), [cidA.$link])

    // An update that drops the image: A goes.
    const plan4 = blobs.processWriteBlobs([{ action: 'update', uri: uri('3'), blobs: [] }])
    assert.deepEqual(plan4.deleteFiles, [{ cid: cidA.$link, tempKey: null }])
    assert.equal(blobs.blobCount(), 0)
  } finally {
    f.close()
  }
})

test('processWriteBlobs fails whole on a bad ref, leaving the tables as they were', () => {
  const f = fixture()
  try {
    const { db, blobs } = f
    blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'ka' })
    blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: [{ cid: cidA, mimeType: 'image/png', size: 10 }] }])
    const tx = db.transaction(() =>
      blobs.processWriteBlobs([
        { action: 'delete', uri: uri('1') },
        { action: 'create', uri: uri('2'), blobs: [{ cid: cidC, mimeType: 'video/mp4', size: 1 }] },
      ]),
    )
    assert.throws(() => tx(), xrpcError(400, 'BlobNotFound'))
    assert.deepEqual(blobs.getRecordBlobs(uri('1')), [cidA.$link])
    assert.ok(blobs.getBlobRow(cidA.$link))
  } finally {
    f.close()
  }
})

test('a taken-down blob keeps its row when its last record goes (re-upload stays refused)', () => {
  const f = fixture()
  try {
    const { db, blobs } = f
    blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'ka' })
    blobs.processWriteBlobs([{ action: 'create', uri: uri('1'), blobs: [{ cid: cidA, mimeType: 'image/png', size: 10 }] }])
    blobs.markPermanent(cidA.$link, 'ka')
    blobs.setBlobTakedown(cidA.$link, { applied: true, ref: 'mod' })
    assert.deepEqual(blobs.unlinkRecord(uri('1')), [cidA.$link])
    const plan = blobs.processWriteBlobs([{ action: 'delete', uri: uri('1') }])
    assert.deepEqual(plan.deleteFiles, [])
    assert.equal(blobs.getBlobRow(cidA.$link)?.takedownRef, 'mod')
    assert.throws(() => blobs.trackUntethered({ cid: cidA, mimeType: 'image/png', size: 10, tempKey: 'kz' }), xrpcError(400, 'InvalidRequest'))
  } finally {
    f.close()
  }
})

test('listBlobs pages by cursor and filters by the records\' rev', () => {
  const f = fixture()
  try {
    const { db, blobs } = f
    const ins = db.prepare(`INSERT INTO record (uri, cid, collection, rkey, repoRev, indexedAt) VALUES (?, 'c', 'app.bsky.feed.post', ?, ?, 'now')`)
    ins.run(uri('old'), 'old', '3aaaaaaaaaa22')
    ins.run(uri('new'), 'new', '3zzzzzzzzzz22')
    blobs.linkRecordBlobs(uri('old'), [{ cid: cidA, mimeType: 'image/png', size: 1 }])
    blobs.linkRecordBlobs(uri('new'), [
      { cid: cidB, mimeType: 'image/png', size: 1 },
      { cid: cidC, mimeType: 'image/png', size: 1 },
    ])
    const all = [cidA.$link, cidB.$link, cidC.$link].sort()
    assert.deepEqual(blobs.listBlobs({ limit: 2 }), all.slice(0, 2))
    assert.deepEqual(blobs.listBlobs({ limit: 2, cursor: all[1] }), all.slice(2))
    assert.deepEqual(blobs.listBlobs({ limit: 10, since: '3mmmmmmmmmm22' }), [cidB.$link, cidC.$link].sort())
  } finally {
    f.close()
  }
})
