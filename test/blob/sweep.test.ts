// The periodic sweep, end to end: an upload no record uses is gone after the grace period; one
// a record uses stays.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds({ env: { HEARTH_BLOB_GC_GRACE_MS: '1000' } })
})
after(async () => {
  await pds?.close()
})

test('the sweep removes unused uploads after the grace period and keeps used ones', async () => {
  // The server's own timer sweeps every second with this grace period; stopped here so that the
  // counts below are this test's runOnce alone (runOnce still works after stop).
  pds.hearth.blobSweep.stop()
  const { agent, did } = await pds.createAccount('sweeper')
  const used = await agent.uploadBlob(new Uint8Array([1, 2, 3, 4, 5]), { encoding: 'application/octet-stream' })
  const unused = await agent.uploadBlob(new Uint8Array([9, 8, 7, 6]), { encoding: 'application/octet-stream' })
  await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'com.example.thing',
    record: { $type: 'com.example.thing', file: used.data.blob },
  })
  const s = pds.hearth.services
  const store = s.actors.get(did)
  assert.ok(store)
  const count = () => (store.db.prepare('SELECT count(*) AS n FROM blob').get() as { n: number }).n
  assert.equal(count(), 2)
  // Within the grace period nothing goes.
  await pds.hearth.blobSweep.runOnce()
  assert.equal(count(), 2)
  await new Promise((r) => setTimeout(r, 1100))
  const res = await pds.hearth.blobSweep.runOnce()
  assert.equal(res.blobs, 1)
  assert.equal(count(), 1)
  const left = store.db.prepare('SELECT cid FROM blob').get() as { cid: string }
  assert.equal(left.cid, used.data.blob.ref.toString())
  assert.notEqual(left.cid, unused.data.blob.ref.toString())
  assert.equal(await s.blobs.hasStored(did, used.data.blob.ref.toString()), true)
})
