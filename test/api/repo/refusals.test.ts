// What the repo methods refuse, and that a refusal never changes the repo: invalid records,
// validation modes, blob refs, other accounts' tokens, malformed requests, oversize bodies.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { png } from '../../blob/samples.ts'
import { headOf, makeAccount, type TestAccount, xrpc } from './helpers.ts'

const POST = 'app.bsky.feed.post'
const now = () => new Date().toISOString()
const BLOB_LIMIT = 4096

describe('repo refusals', () => {
  let pds: TestPds
  let alice: TestAccount
  let mallory: TestAccount
  let token: string
  let existingRkey: string

  before(async () => {
    pds = await startTestPds({ env: { PDS_BLOB_UPLOAD_LIMIT: String(BLOB_LIMIT) } })
    alice = await makeAccount(pds, 'alice')
    mallory = await makeAccount(pds, 'mallory')
    token = alice.agent.session!.accessJwt
    const r = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { text: 'first', createdAt: now() } })
    existingRkey = r.data.uri.split('/').pop()!
  })
  after(async () => {
    await pds?.close()
  })

  /** Runs `fn` expecting an XRPC error, and checks the repo did not move. */
  async function refused(fn: () => Promise<unknown>, status: number, error: string, message?: RegExp): Promise<void> {
    const head = headOf(pds, alice.did)
    await assert.rejects(fn, (err: any) => {
      assert.equal(err.status, status, `status for ${err.message}`)
      assert.equal(err.error, error, `error for ${err.message}`)
      if (message) assert.match(err.message, message)
      return true
    })
    assert.equal(headOf(pds, alice.did), head)
  }

  async function rawRefused(res: Promise<{ status: number; body: any }>, status: number, error: string): Promise<void> {
    const head = headOf(pds, alice.did)
    const r = await res
    assert.equal(r.status, status, JSON.stringify(r.body))
    assert.equal(r.body.error, error, JSON.stringify(r.body))
    assert.equal(headOf(pds, alice.did), head)
  }

  it('refuses an invalid post, a $type mismatch, and bad record keys', async () => {
    const repo = alice.agent.com.atproto.repo
    await refused(() => repo.createRecord({ repo: alice.did, collection: POST, record: { text: 5, createdAt: now() } }), 400, 'InvalidRequest', /Invalid app\.bsky\.feed\.post record/)
    await refused(() => repo.createRecord({ repo: alice.did, collection: POST, record: { $type: 'app.bsky.feed.like', text: 'x', createdAt: now() } }), 400, 'InvalidRequest', /Invalid \$type: expected app\.bsky\.feed\.post, got app\.bsky\.feed\.like/)
    await refused(() => repo.putRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'notself', record: {} }), 400, 'InvalidRequest', /Invalid record key for app\.bsky\.actor\.profile/)
    // A key the server makes (a TID) is checked too when the lexicon wants another kind of key.
    await refused(() => repo.createRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', record: {} }), 400, 'InvalidRequest', /Invalid record key for app\.bsky\.actor\.profile: Record key must be "self"/)
    await refused(() => repo.createRecord({ repo: alice.did, collection: POST, rkey: 'not-a-tid', record: { text: 'x', createdAt: now() } }), 400, 'InvalidRequest', /Invalid record key/)
    await refused(() => repo.createRecord({ repo: alice.did, collection: POST, rkey: existingRkey, record: { text: 'dup', createdAt: now() } }), 400, 'InvalidRequest', /already exists/)
    await refused(() => repo.applyWrites({ repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#update', collection: POST, rkey: '3jzfcijpj2z2z', value: { text: 'x', createdAt: now() } }] }), 400, 'InvalidRequest', /not found/i)
  })

  it('validate: unset → unknown for unknown types, true → refused, false → skipped', async () => {
    const repo = alice.agent.com.atproto.repo
    const unk = await repo.createRecord({ repo: alice.did, collection: 'com.example.free', record: { anything: 'goes' } })
    assert.equal(unk.data.validationStatus, 'unknown')
    await refused(() => repo.createRecord({ repo: alice.did, collection: 'com.example.free', validate: true, record: { a: 1 } }), 400, 'InvalidRequest', /Unknown lexicon type: com\.example\.free/)
    const skipped = await repo.createRecord({ repo: alice.did, collection: POST, validate: false, record: { text: 5 } })
    assert.equal(skipped.data.validationStatus, undefined)
    assert.ok(skipped.data.commit)
  })

  it('refuses more than 200 writes in one batch', async () => {
    const writes = Array.from({ length: 201 }, (_, i) => ({ $type: 'com.atproto.repo.applyWrites#create' as const, collection: 'com.example.free', rkey: `k${i}`, value: { i } }))
    await refused(() => alice.agent.com.atproto.repo.applyWrites({ repo: alice.did, writes }), 400, 'InvalidRequest', /Too many writes\. Max: 200/)
  })

  it('refuses blob refs to blobs never uploaded, mismatched, or legacy', async () => {
    const ghost = { $type: 'blob', ref: { $link: 'bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, mimeType: 'image/png', size: 10 }
    const rawPost = (image: unknown) => ({ repo: alice.did, collection: POST, record: { text: 'img', createdAt: now(), embed: { $type: 'app.bsky.embed.images', images: [{ image, alt: '' }] } } })
    await rawRefused(xrpc(pds, 'com.atproto.repo.createRecord', { token, contentType: 'application/json', body: JSON.stringify(rawPost(ghost)) }), 400, 'BlobNotFound')
    const up = await alice.agent.uploadBlob(new Uint8Array(png), { encoding: 'image/png' })
    const real = { $type: 'blob', ref: { $link: up.data.blob.ref.toString() }, mimeType: 'image/png', size: png.length }
    await rawRefused(xrpc(pds, 'com.atproto.repo.createRecord', { token, contentType: 'application/json', body: JSON.stringify(rawPost({ ...real, size: png.length + 1 })) }), 400, 'InvalidSize')
    await rawRefused(xrpc(pds, 'com.atproto.repo.createRecord', { token, contentType: 'application/json', body: JSON.stringify(rawPost({ ...real, mimeType: 'image/jpeg' })) }), 400, 'InvalidMimeType')
    const legacy = { repo: alice.did, collection: 'com.example.free', record: { pic: { cid: up.data.blob.ref.toString(), mimeType: 'image/png' } } }
    await rawRefused(xrpc(pds, 'com.atproto.repo.createRecord', { token, contentType: 'application/json', body: JSON.stringify(legacy) }), 400, 'InvalidRequest')
    // Mallory cannot use Alice's upload either.
    const mallToken = mallory.agent.session!.accessJwt
    const before = headOf(pds, mallory.did)
    const r = await xrpc(pds, 'com.atproto.repo.createRecord', { token: mallToken, contentType: 'application/json', body: JSON.stringify({ ...rawPost(real), repo: mallory.did }) })
    assert.equal(r.body.error, 'BlobNotFound')
    assert.equal(headOf(pds, mallory.did), before)
  })

  it("another account's token cannot write to or delete from this repo", async () => {
    const repo = mallory.agent.com.atproto.repo
    await refused(() => repo.createRecord({ repo: alice.did, collection: POST, record: { text: 'pwned', createdAt: now() } }), 401, 'AuthenticationRequired')
    await refused(() => repo.createRecord({ repo: alice.handle, collection: POST, record: { text: 'pwned', createdAt: now() } }), 401, 'AuthenticationRequired')
    await refused(() => repo.putRecord({ repo: alice.did, collection: POST, rkey: existingRkey, record: { text: 'pwned', createdAt: now() } }), 401, 'AuthenticationRequired')
    await refused(() => repo.deleteRecord({ repo: alice.did, collection: POST, rkey: existingRkey }), 401, 'AuthenticationRequired')
    await refused(() => repo.applyWrites({ repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#delete', collection: POST, rkey: existingRkey }] }), 401, 'AuthenticationRequired')
    await refused(() => repo.createRecord({ repo: 'did:plc:nobodynobodynobody', collection: POST, record: { text: 'x', createdAt: now() } }), 403, 'AccountNotFound')
    await rawRefused(xrpc(pds, 'com.atproto.repo.deleteRecord', { contentType: 'application/json', body: JSON.stringify({ repo: alice.did, collection: POST, rkey: existingRkey }) }), 401, 'AuthMissing')
    await rawRefused(xrpc(pds, 'com.atproto.repo.deleteRecord', { token: 'garbage', contentType: 'application/json', body: JSON.stringify({ repo: alice.did, collection: POST, rkey: existingRkey }) }), 400, 'InvalidToken')
    const still = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey: existingRkey })
    assert.equal((still.data.value as any).text, 'first')
  })

  it('refuses writes to deactivated or taken-down accounts; hides taken-down records', async () => {
    const carol = await makeAccount(pds, 'carol')
    const r = await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: POST, record: { text: 'c', createdAt: now() } })
    const rkey = r.data.uri.split('/').pop()!
    const accounts = pds.hearth.services.accounts
    const head = headOf(pds, carol.did)
    accounts.deactivateAccount(carol.did)
    await assert.rejects(carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: POST, record: { text: 'd', createdAt: now() } }), (err: any) => err.status === 401 && err.error === 'AccountDeactivated')
    accounts.activateAccount(carol.did)
    accounts.setTakedown(carol.did, { applied: true, ref: 'test' })
    // A takedown also revokes the account's sessions, so the token itself is refused now.
    await assert.rejects(carol.agent.com.atproto.repo.deleteRecord({ repo: carol.did, collection: POST, rkey }), (err: any) => err.status === 400 || err.status === 401)
    await assert.rejects(alice.agent.com.atproto.repo.describeRepo({ repo: carol.did }), (err: any) => err.error === 'RepoTakendown')
    accounts.setTakedown(carol.did, { applied: false })
    assert.equal(headOf(pds, carol.did), head)
    const store = pds.hearth.services.actors.get(carol.did)!
    store.db.prepare('UPDATE record SET "takedownRef" = ? WHERE "uri" = ?').run('mod', r.data.uri)
    await assert.rejects(alice.agent.com.atproto.repo.getRecord({ repo: carol.did, collection: POST, rkey }), (err: any) => err.error === 'RecordNotFound')
    const listed = await alice.agent.com.atproto.repo.listRecords({ repo: carol.did, collection: POST })
    assert.equal(listed.data.records.length, 0)
  })

  it('answers malformed requests with 400s, never 500', async () => {
    const post = (nsid: string, body: string, contentType = 'application/json') => xrpc(pds, nsid, { token, contentType, body })
    const writes = ['createRecord', 'putRecord', 'deleteRecord', 'applyWrites'].map((m) => `com.atproto.repo.${m}`)
    for (const nsid of writes) {
      await rawRefused(post(nsid, '{not json'), 400, 'InvalidRequest')
      await rawRefused(post(nsid, '{}'), 400, 'InvalidRequest')
      await rawRefused(post(nsid, '[]'), 400, 'InvalidRequest')
      await rawRefused(post(nsid, JSON.stringify({ repo: alice.did }), 'text/plain'), 400, 'InvalidRequest')
      await rawRefused(xrpc(pds, nsid, { token, method: 'POST' }), 400, 'InvalidRequest')
    }
    const rec = { text: 'x', createdAt: now() }
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: 'not an nsid', record: rec })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: 'not a did', collection: POST, record: rec })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: POST, record: 'a string' })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: POST, rkey: '..', record: rec })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: POST, record: rec, swapCommit: 'nope' })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: 'com.example.free', record: { f: 1.5 } })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: 'com.example.free', record: { l: { $link: 'bad' } } })), 400, 'InvalidRequest')
    await rawRefused(post(writes[0], JSON.stringify({ repo: alice.did, collection: POST, validate: 'yes', record: rec })), 400, 'InvalidRequest')
    await rawRefused(post(writes[1], JSON.stringify({ repo: alice.did, collection: POST, record: rec })), 400, 'InvalidRequest')
    await rawRefused(post(writes[1], JSON.stringify({ repo: alice.did, collection: POST, rkey: 'a/b', record: rec })), 400, 'InvalidRequest')
    await rawRefused(post(writes[2], JSON.stringify({ repo: alice.did, collection: POST, rkey: existingRkey, swapRecord: 5 })), 400, 'InvalidRequest')
    await rawRefused(post(writes[3], JSON.stringify({ repo: alice.did, writes: [{ $type: 'com.example.op', collection: POST }] })), 400, 'InvalidRequest')
    await rawRefused(post(writes[3], JSON.stringify({ repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: POST }] })), 400, 'InvalidRequest')
    const huge = JSON.stringify({ repo: alice.did, collection: 'com.example.free', record: { big: 'x'.repeat(1_000_001) } })
    await rawRefused(post(writes[0], huge), 413, 'PayloadTooLarge')

    // Reads.
    const get = (nsid: string, query: Record<string, string>) => xrpc(pds, nsid, { query })
    await rawRefused(get('com.atproto.repo.getRecord', { repo: alice.did, collection: POST }), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.getRecord', { repo: alice.did, collection: 'bad nsid', rkey: 'x' }), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.getRecord', { repo: alice.did, collection: POST, rkey: '3jzfcijpj2z2z' }), 400, 'RecordNotFound')
    await rawRefused(get('com.atproto.repo.getRecord', { repo: alice.did, collection: POST, rkey: existingRkey, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }), 400, 'RecordNotFound')
    await rawRefused(get('com.atproto.repo.getRecord', { repo: 'did:plc:elsewhereelsewhere', collection: POST, rkey: 'x' }), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.listRecords', { repo: alice.did, collection: POST, limit: '101' }), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.listRecords', { repo: alice.did, collection: POST, limit: 'ten' }), 400, 'InvalidRequest')
    // As the official's query parser: a boolean is true only for "true".
    assert.equal((await get('com.atproto.repo.listRecords', { repo: alice.did, collection: POST, reverse: 'maybe' })).status, 200)
    await rawRefused(get('com.atproto.repo.listRecords', { repo: 'nobody.test', collection: POST }), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.listRecords', { collection: POST }), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.describeRepo', {}), 400, 'InvalidRequest')
    await rawRefused(get('com.atproto.repo.describeRepo', { repo: '!!' }), 400, 'InvalidRequest')
    await rawRefused(xrpc(pds, 'com.atproto.repo.getRecord', { method: 'POST', query: { repo: alice.did, collection: POST, rkey: 'x' }, contentType: 'application/json', body: '{}' }), 400, 'InvalidRequest')
  })

  it('uploadBlob: over the limit is 413 PayloadTooLarge; no auth is 401', async () => {
    const big = new Uint8Array(BLOB_LIMIT + 1)
    await rawRefused(xrpc(pds, 'com.atproto.repo.uploadBlob', { token, contentType: 'application/octet-stream', body: big }), 413, 'PayloadTooLarge')
    await rawRefused(xrpc(pds, 'com.atproto.repo.uploadBlob', { contentType: 'image/png', body: new Uint8Array(png) }), 401, 'AuthMissing')
    const ok = await xrpc(pds, 'com.atproto.repo.uploadBlob', { token, contentType: 'image/png', body: new Uint8Array(BLOB_LIMIT) })
    assert.equal(ok.status, 200)
    assert.equal(ok.body.blob.size, BLOB_LIMIT)
    assert.equal(ok.body.blob.$type, 'blob')
  })
})
