// The repo methods end to end through @atproto/api: posts with images, list, edit, delete,
// batches, swaps, backlink dedupe, describeRepo, restart, and a CAR export the official library
// verifies.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { verifyRepoCar } from '@atproto/repo'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { png } from '../../blob/samples.ts'
import { exportCar, headOf, makeAccount, type TestAccount } from './helpers.ts'

const POST = 'app.bsky.feed.post'
const now = () => new Date().toISOString()

describe('repo records', () => {
  let pds: TestPds
  let alice: TestAccount
  let bob: TestAccount

  before(async () => {
    pds = await startTestPds()
    alice = await makeAccount(pds, 'alice')
    bob = await makeAccount(pds, 'bob')
  })
  after(async () => {
    await pds?.close()
  })

  it('posts with an uploaded image; getRecord returns the blob ref; the blob becomes permanent', async () => {
    const up = await alice.agent.uploadBlob(new Uint8Array(png), { encoding: 'image/png' })
    const blob = up.data.blob
    assert.equal(blob.mimeType, 'image/png')
    assert.equal(blob.size, png.length)
    const cid = blob.ref.toString()
    const store = pds.hearth.services.actors.get(alice.did)!
    assert.notEqual(store.blobs.getBlobRow(cid)?.tempKey, null, 'an unused upload stays temporary')

    const res = await alice.agent.post({ text: 'hello with image', createdAt: now(), embed: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: 'a pixel' }] } })
    assert.match(res.uri, new RegExp(`^at://${alice.did}/${POST}/`))
    const got = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey: res.uri.split('/').pop()! })
    assert.equal(got.data.cid, res.cid)
    const value = got.data.value as any
    assert.equal(value.text, 'hello with image')
    assert.equal(value.embed.images[0].image.ref.toString(), cid)
    assert.equal(value.embed.images[0].image.size, png.length)

    // The move to permanent storage is queued right after the commit.
    await pds.hearth.services.blobs.serialize(alice.did, async () => {})
    assert.equal(store.blobs.getBlobRow(cid)?.tempKey, null)
    assert.ok(await pds.hearth.services.blobs.hasStored(alice.did, cid))
    assert.equal(headOf(pds, alice.did), pds.hearth.services.accounts.getRepoRoot(alice.did)?.cid)
  })

  it('lists with limit, cursor and reverse', async () => {
    const rkeys: string[] = []
    for (let i = 0; i < 5; i++) {
      const r = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.thing', record: { n: i } })
      assert.equal(r.data.validationStatus, 'unknown')
      rkeys.push(r.data.uri.split('/').pop()!)
    }
    const page1 = await alice.agent.com.atproto.repo.listRecords({ repo: alice.handle, collection: 'com.example.thing', limit: 2 })
    assert.deepEqual(page1.data.records.map((r) => (r.value as any).n), [4, 3])
    assert.equal(page1.data.cursor, rkeys[3])
    const page2 = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'com.example.thing', limit: 10, cursor: page1.data.cursor })
    assert.deepEqual(page2.data.records.map((r) => (r.value as any).n), [2, 1, 0])
    const rev = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'com.example.thing', limit: 2, reverse: true })
    assert.deepEqual(rev.data.records.map((r) => (r.value as any).n), [0, 1])
    const rev2 = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'com.example.thing', reverse: true, cursor: rev.data.cursor })
    assert.deepEqual(rev2.data.records.map((r) => (r.value as any).n), [2, 3, 4])
    const empty = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'com.example.none' })
    assert.deepEqual(empty.data.records, [])
    assert.equal(empty.data.cursor, undefined)
  })

  it('edits with putRecord; identical content is a no-op without a commit', async () => {
    const created = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { displayName: 'Alice' } })
    assert.equal(created.data.validationStatus, 'valid')
    assert.ok(created.data.commit)
    const edited = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { displayName: 'Alice B' }, swapRecord: created.data.cid })
    assert.notEqual(edited.data.cid, created.data.cid)
    const head = headOf(pds, alice.did)
    const same = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { displayName: 'Alice B' } })
    assert.equal(same.data.commit, undefined)
    assert.equal(same.data.cid, edited.data.cid)
    assert.equal(headOf(pds, alice.did), head)
    const got = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self' })
    assert.equal((got.data.value as any).displayName, 'Alice B')
    assert.equal((got.data.value as any).$type, 'app.bsky.actor.profile')
  })

  it('deletes; deleting a missing record is a no-op', async () => {
    const r = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { text: 'bye', createdAt: now() } })
    const rkey = r.data.uri.split('/').pop()!
    const del = await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey })
    assert.ok(del.data.commit)
    await assert.rejects(alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey }), (err: any) => err.error === 'RecordNotFound' && err.status === 400)
    const head = headOf(pds, alice.did)
    const again = await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey })
    assert.equal(again.data.commit, undefined)
    assert.equal(headOf(pds, alice.did), head)
  })

  it('applies a batch of creates, updates and deletes in one commit', async () => {
    const base = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, rkey: '3jzfcijpj2z2a', record: { text: 'to update', createdAt: now() } })
    const gone = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, rkey: '3jzfcijpj2z2b', record: { text: 'to delete', createdAt: now() } })
    assert.ok(gone.data.commit)
    const before = pds.hearth.services.actors.get(alice.did)!.head()!.rev
    const res = await alice.agent.com.atproto.repo.applyWrites({
      repo: alice.did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#create', collection: POST, value: { text: 'new 1', createdAt: now() } },
        { $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.thing', rkey: 'named', value: { n: 99 } },
        { $type: 'com.atproto.repo.applyWrites#update', collection: POST, rkey: '3jzfcijpj2z2a', value: { text: 'updated', createdAt: now() } },
        { $type: 'com.atproto.repo.applyWrites#delete', collection: POST, rkey: '3jzfcijpj2z2b' },
      ],
    })
    assert.ok(res.data.commit && res.data.commit.rev > before)
    const results = res.data.results as any[]
    assert.equal(results.length, 4)
    assert.equal(results[0].$type, 'com.atproto.repo.applyWrites#createResult')
    assert.equal(results[0].validationStatus, 'valid')
    assert.equal(results[1].validationStatus, 'unknown')
    assert.equal(results[1].uri, `at://${alice.did}/com.example.thing/named`)
    assert.equal(results[2].$type, 'com.atproto.repo.applyWrites#updateResult')
    assert.notEqual(results[2].cid, base.data.cid)
    assert.deepEqual(results[3], { $type: 'com.atproto.repo.applyWrites#deleteResult' })
    const got = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey: '3jzfcijpj2z2a' })
    assert.equal((got.data.value as any).text, 'updated')
    // One commit for the whole batch: the head is the commit it answered with.
    assert.equal(headOf(pds, alice.did), res.data.commit.cid)
    assert.equal(pds.hearth.services.accounts.getRepoRoot(alice.did)?.rev, res.data.commit.rev)
  })

  it('swapCommit and swapRecord mismatches are InvalidSwap and change nothing', async () => {
    const r = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { text: 'swap', createdAt: now() } })
    const rkey = r.data.uri.split('/').pop()!
    const head = headOf(pds, alice.did)
    const stale = r.data.cid // a record CID is never the commit
    const isSwap = (err: any) => err.status === 400 && err.error === 'InvalidSwap'
    await assert.rejects(alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { text: 'x', createdAt: now() }, swapCommit: stale }), (err: any) => isSwap(err) && err.message === `Commit was at ${head}`)
    await assert.rejects(alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: POST, rkey, record: { text: 'y', createdAt: now() }, swapRecord: head }), (err: any) => isSwap(err) && err.message === `Record was at ${r.data.cid}`)
    await assert.rejects(alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: POST, rkey, record: { text: 'y', createdAt: now() }, swapRecord: null }), isSwap)
    await assert.rejects(alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey, swapRecord: head }), isSwap)
    await assert.rejects(alice.agent.com.atproto.repo.applyWrites({ repo: alice.did, swapCommit: stale, writes: [{ $type: 'com.atproto.repo.applyWrites#delete', collection: POST, rkey }] }), isSwap)
    assert.equal(headOf(pds, alice.did), head)
    // The right swaps go through.
    const ok = await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey, swapRecord: r.data.cid, swapCommit: head })
    assert.ok(ok.data.commit)
    const fresh = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: POST, rkey, record: { text: 'again', createdAt: now() }, swapRecord: null })
    assert.ok(fresh.data.commit)
  })

  it('a second follow of the same subject replaces the first (backlink dedupe)', async () => {
    const f1 = await alice.agent.follow(bob.did)
    const f2 = await alice.agent.follow(bob.did)
    assert.notEqual(f1.uri, f2.uri)
    const list = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.graph.follow' })
    assert.deepEqual(list.data.records.map((r) => r.uri), [f2.uri])
    // validate:false skips the dedupe, as the official.
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.graph.follow', validate: false, record: { subject: bob.did, createdAt: now() } })
    const list2 = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.graph.follow' })
    assert.equal(list2.data.records.length, 2)
  })

  it('describeRepo reports the handle, DID document and collections', async () => {
    const res = await alice.agent.com.atproto.repo.describeRepo({ repo: alice.handle })
    assert.equal(res.data.did, alice.did)
    assert.equal(res.data.handle, alice.handle)
    assert.equal(res.data.handleIsCorrect, true)
    assert.equal((res.data.didDoc as any).id, alice.did)
    assert.ok(res.data.collections.includes(POST))
    assert.ok(res.data.collections.includes('com.example.thing'))
    await assert.rejects(alice.agent.com.atproto.repo.describeRepo({ repo: 'did:plc:unknownunknownunknown' }), (err: any) => err.error === 'RepoNotFound')
  })

  it('exports a CAR that @atproto/repo verifies, and keeps records and blobs across a restart', async () => {
    const car = exportCar(pds, alice.did)
    const signingKey = pds.hearth.services.actors.get(alice.did)!.keypair().did()
    const verified = await verifyRepoCar(car, alice.did, signingKey)
    const listed = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: POST, limit: 100 })
    const postsInCar = verified.creates.filter((c) => c.collection === POST)
    assert.equal(postsInCar.length, listed.data.records.length)

    const head = headOf(pds, alice.did)
    await pds.restart()
    // A fresh client: the old one's keep-alive sockets died with the old server.
    const agent = pds.agent()
    agent.sessionManager.session = alice.agent.session
    assert.equal(headOf(pds, alice.did), head)
    const after = await agent.com.atproto.repo.listRecords({ repo: alice.did, collection: POST, limit: 100 })
    assert.deepEqual(after.data.records.map((r) => r.cid), listed.data.records.map((r) => r.cid))
    const withImage = after.data.records.find((r) => (r.value as any).embed)!
    const cid = (withImage.value as any).embed.images[0].image.ref.toString()
    const res = await fetch(new URL(`/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${cid}`, pds.url))
    if (res.status === 200) assert.deepEqual(Buffer.from(await res.arrayBuffer()), png)
    assert.ok(await pds.hearth.services.blobs.hasStored(alice.did, cid))
    // And writes still work on the restarted server.
    const r = await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { text: 'after restart', createdAt: now() } })
    assert.ok(r.data.commit)
  })
})
