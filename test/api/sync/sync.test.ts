// com.atproto.sync.* end to end: CARs and proofs checked with the official @atproto/repo, blob
// headers, paging, account-state refusals and bad input (never a 500).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { get as httpGet, type IncomingMessage } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { readCar, readCarWithRoot, verifyProofs, verifyRepoCar } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { repoBlocks } from '../../../src/repo/export.ts'
import { accountEvent } from '../../../src/sequencer/events.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { makeAccount, type TestAccount } from '../repo/helpers.ts'

let pds: TestPds
let alice: TestAccount
let bob: TestAccount
let aliceKey: string
const COL = 'com.example.thing'

async function get(nsid: string, query: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const url = new URL(`/xrpc/${nsid}`, pds.url)
  for (const [k, v] of Object.entries(query)) for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one)
  const res = await fetch(url, { headers })
  const bytes = new Uint8Array(await res.arrayBuffer())
  let json: any = null
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) json = JSON.parse(Buffer.from(bytes).toString())
  return { status: res.status, headers: res.headers, bytes, json }
}

const adminHeader = () => ({ authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}` })
const bearer = (a: TestAccount) => ({ authorization: `Bearer ${a.agent.session?.accessJwt}` })

async function put(a: TestAccount, rkey: string, record: Record<string, unknown>) {
  return a.agent.com.atproto.repo.putRecord({ repo: a.did, collection: COL, rkey, record: { $type: COL, ...record } })
}

before(async () => {
  pds = await startTestPds()
  alice = await makeAccount(pds, 'alice')
  bob = await makeAccount(pds, 'bob')
  aliceKey = pds.hearth.services.actors.get(alice.did)!.keypair().did()
  for (let i = 0; i < 20; i++) await put(alice, `r${i}`, { n: i })
  await put(bob, 'only', { n: 1, who: 'bob' })
})

after(async () => {
  await pds?.close()
})

describe('getRepo', () => {
  test('the CAR verifies with @atproto/repo against the signing key and holds every record', async () => {
    const res = await get('com.atproto.sync.getRepo', { did: alice.did })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car')
    const verified = await verifyRepoCar(res.bytes, alice.did, aliceKey)
    assert.equal(verified.creates.length, 20)
    assert.deepEqual(verified.creates.map((c) => c.rkey).sort(), Array.from({ length: 20 }, (_, i) => `r${i}`).sort())
    assert.equal(verified.commit.cid.toString(), pds.hearth.services.actors.get(alice.did)!.head()!.cid.$link)
    // The deprecated getCheckout serves the same CAR.
    const checkout = await get('com.atproto.sync.getCheckout', { did: alice.did })
    assert.equal(checkout.status, 200)
    assert.deepEqual(checkout.bytes, res.bytes)
  })

  test('the CAR (one scan of the block table) holds exactly the blocks of the tree, after updates and deletes', async () => {
    // A server of its own: the other tests count this one's accounts.
    const own = await startTestPds()
    try {
      const carol = await makeAccount(own, 'carol')
      const writes = Array.from({ length: 600 }, (_, i) => ({ $type: 'com.atproto.repo.applyWrites#create' as const, collection: COL, rkey: `k${i}`, value: { $type: COL, n: i } }))
      for (let i = 0; i < writes.length; i += 200) await carol.agent.com.atproto.repo.applyWrites({ repo: carol.did, writes: writes.slice(i, i + 200) })
      for (let i = 0; i < 40; i++) await carol.agent.com.atproto.repo.deleteRecord({ repo: carol.did, collection: COL, rkey: `k${i * 7}` })
      for (let i = 0; i < 20; i++) await carol.agent.com.atproto.repo.putRecord({ repo: carol.did, collection: COL, rkey: `k${i * 11 + 1}`, record: { $type: COL, n: -i } })
      const res = await fetch(`${own.url}/xrpc/com.atproto.sync.getRepo?did=${carol.did}`)
      assert.equal(res.status, 200)
      const bytes = new Uint8Array(await res.arrayBuffer())
      const store = own.hearth.services.actors.get(carol.did)!
      const verified = await verifyRepoCar(bytes, carol.did, store.keypair().did())
      const live = new Set(Array.from({ length: 600 }, (_, i) => `k${i}`))
      for (let i = 0; i < 40; i++) live.delete(`k${i * 7}`)
      for (let i = 0; i < 20; i++) live.add(`k${i * 11 + 1}`)
      assert.deepEqual(verified.creates.map((c) => c.rkey).sort(), [...live].sort())
      const car = await readCar(bytes)
      const served = [...car.blocks].map(([cid]) => cid.toString()).sort()
      const tree = [...repoBlocks(store, store.head()!.cid)].map(([cid]) => cid.$link).sort()
      assert.deepEqual(served, tree, 'no block missing, none left over')
      // Read in pages of 256 rows packed into one value each: several pages here, and the CAR
      // still reads back with its one root and every block once.
      assert.ok(tree.length > 512, `${tree.length} blocks`)
      const withRoot = await readCarWithRoot(bytes)
      assert.equal(withRoot.root.toString(), store.head()!.cid.$link)
      assert.equal(withRoot.blocks.size, tree.length)
    } finally {
      await own.close()
    }
  })

  test('`since` gives only the blocks written after that rev', async () => {
    const before = await get('com.atproto.sync.getLatestCommit', { did: alice.did })
    const rev = before.json.rev as string
    const { data } = await put(alice, 'late', { n: 99 })
    const diff = await get('com.atproto.sync.getRepo', { did: alice.did, since: rev })
    assert.equal(diff.status, 200)
    const car = await readCar(diff.bytes)
    const cids = new Set<string>()
    for (const [cid] of car.blocks) cids.add(cid.toString())
    const head = await get('com.atproto.sync.getLatestCommit', { did: alice.did })
    assert.equal(car.roots[0].toString(), head.json.cid)
    assert.ok(cids.has(head.json.cid), 'the new commit is in the diff')
    assert.ok(cids.has(data.cid), 'the new record is in the diff')
    const full = await readCar((await get('com.atproto.sync.getRepo', { did: alice.did })).bytes)
    assert.ok(car.blocks.size < full.blocks.size / 2, `${car.blocks.size} of ${full.blocks.size} blocks`)
    const oldRecord = (await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: COL, rkey: 'r0' })).data.cid
    assert.ok(!cids.has(oldRecord as string), 'an old record is not in the diff')
  })

  test('a malformed `since` is InvalidRequest', async () => {
    const res = await get('com.atproto.sync.getRepo', { did: alice.did, since: 'not-a-tid' })
    assert.equal(res.status, 400)
    assert.equal(res.json.error, 'InvalidRequest')
  })
})

describe('getRecord', () => {
  test('proofs verify with @atproto/repo for present and absent records', async () => {
    const rec = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: COL, rkey: 'r3' })
    const present = await get('com.atproto.sync.getRecord', { did: alice.did, collection: COL, rkey: 'r3' })
    assert.equal(present.status, 200)
    const ok = await verifyProofs(present.bytes, [{ collection: COL, rkey: 'r3', cid: CID.parse(rec.data.cid as string) as any }], alice.did, aliceKey)
    assert.equal(ok.verified.length, 1)
    assert.equal(ok.unverified.length, 0)
    // A claim of a different CID does not verify from the same proof.
    const wrong = await verifyProofs(present.bytes, [{ collection: COL, rkey: 'r3', cid: null }], alice.did, aliceKey)
    assert.equal(wrong.verified.length, 0)

    const absent = await get('com.atproto.sync.getRecord', { did: alice.did, collection: COL, rkey: 'nope' })
    assert.equal(absent.status, 200)
    const gone = await verifyProofs(absent.bytes, [{ collection: COL, rkey: 'nope', cid: null }], alice.did, aliceKey)
    assert.equal(gone.verified.length, 1)
    assert.equal(gone.unverified.length, 0)
  })

  test('a proof does not verify under another account key', async () => {
    const bobKey = pds.hearth.services.actors.get(bob.did)!.keypair().did()
    const res = await get('com.atproto.sync.getRecord', { did: alice.did, collection: COL, rkey: 'r3' })
    await assert.rejects(verifyProofs(res.bytes, [{ collection: COL, rkey: 'r3', cid: null }], alice.did, bobKey))
  })
})

describe('getBlocks', () => {
  test('returns every requested block, or the official error when one is missing', async () => {
    const head = (await get('com.atproto.sync.getLatestCommit', { did: alice.did })).json.cid as string
    const rec = (await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: COL, rkey: 'r1' })).data.cid as string
    const res = await get('com.atproto.sync.getBlocks', { did: alice.did, cids: [head, rec] })
    assert.equal(res.status, 200)
    const car = await readCar(res.bytes)
    assert.equal(car.roots.length, 0)
    assert.deepEqual([...car.blocks].map(([c]) => c.toString()).sort(), [head, rec].sort())

    const bobRec = (await bob.agent.com.atproto.repo.getRecord({ repo: bob.did, collection: COL, rkey: 'only' })).data.cid as string
    const missing = await get('com.atproto.sync.getBlocks', { did: alice.did, cids: [head, bobRec] })
    assert.equal(missing.status, 400)
    assert.equal(missing.json.error, 'InvalidRequest')
    assert.match(missing.json.message, new RegExp(`Could not find cids: ${bobRec}`))
  })

  test('a bad CID string is InvalidRequest, never a 500', async () => {
    for (const bad of ['not-a-cid', 'bafy', 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', 'z'.repeat(300)]) {
      const res = await get('com.atproto.sync.getBlocks', { did: alice.did, cids: [bad] })
      assert.equal(res.status, 400, bad)
      assert.equal(res.json.error, 'InvalidRequest', bad)
    }
  })
})

describe('blobs', () => {
  let blobCid: string
  before(async () => {
    const bytes = new TextEncoder().encode('<html><script>alert(1)</script></html>')
    const up = await alice.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'text/html' })
    blobCid = up.data.blob.ref.toString()
    await put(alice, 'withblob', { file: up.data.blob })
  })

  test('getBlob serves the bytes with the security headers', async () => {
    const res = await get('com.atproto.sync.getBlob', { did: alice.did, cid: blobCid })
    assert.equal(res.status, 200)
    assert.equal(Buffer.from(res.bytes).toString(), '<html><script>alert(1)</script></html>')
    assert.equal(res.headers.get('content-length'), String(res.bytes.length))
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${blobCid}"`)
    assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; sandbox")
  })

  test('small blobs served whole from reused buffers: a client that stops reading keeps its own bytes while others are served', async () => {
    // On disk a blob of up to 1 MiB is read whole into one of a few buffers the store reuses, and
    // a buffer goes back once its response has handed every byte to the socket. Here blobs served
    // in turn from those buffers, one client holding its answer unread meanwhile, must all arrive
    // intact. (Loopback's socket buffers may take a whole 900 KB answer: when a buffer goes back is
    // tested on the router, test/xrpc/output-on-close.test.ts.)
    // A server of its own: the other tests count this one's blobs and accounts.
    const own = await startTestPds()
    try {
      const dave = await makeAccount(own, 'dave')
      const blobs = Array.from({ length: 6 }, () => randomBytes(900_000))
      const cids: string[] = []
      const refs = []
      for (const bytes of blobs) {
        const up = await dave.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'application/octet-stream' })
        cids.push(up.data.blob.ref.toString())
        refs.push(up.data.blob)
      }
      await dave.agent.com.atproto.repo.putRecord({ repo: dave.did, collection: COL, rkey: 'blobs', record: { $type: COL, files: refs } })
      const url = (i: number) => `${own.url}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(dave.did)}&cid=${cids[i]}`
      const paused = await new Promise<IncomingMessage>((resolve, reject) => httpGet(url(0), resolve).on('error', reject))
      paused.pause()
      await new Promise((r) => setTimeout(r, 100))
      for (let round = 0; round < 3; round++) {
        for (let i = 1; i < blobs.length; i++) {
          const res = await fetch(url(i))
          assert.equal(res.status, 200)
          assert.ok(Buffer.from(await res.arrayBuffer()).equals(blobs[i] as Buffer), `blob ${i} intact`)
        }
      }
      const chunks: Buffer[] = []
      paused.on('data', (c: Buffer) => chunks.push(c))
      paused.resume()
      await new Promise((r) => paused.once('end', r))
      assert.equal(paused.statusCode, 200)
      assert.ok(Buffer.concat(chunks).equals(blobs[0] as Buffer), 'the paused client got its own blob, not bytes of a later one')
    } finally {
      await own.close()
    }
  })

  test('an unknown blob is 400 "Blob not found", as official', async () => {
    const other = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
    const res = await get('com.atproto.sync.getBlob', { did: alice.did, cid: other })
    assert.equal(res.status, 400)
    assert.equal(res.json.error, 'InvalidRequest')
    assert.equal(res.json.message, 'Blob not found')
    // Another account's blob is not served through this one.
    const cross = await get('com.atproto.sync.getBlob', { did: bob.did, cid: blobCid })
    assert.equal(cross.status, 400)
    assert.equal(cross.json.message, 'Blob not found')
  })

  test('listBlobs lists referenced blobs, pages with a cursor and honours since', async () => {
    const res = await get('com.atproto.sync.listBlobs', { did: alice.did })
    assert.equal(res.status, 200)
    assert.deepEqual(res.json.cids, [blobCid])
    assert.equal(res.json.cursor, blobCid)
    const page2 = await get('com.atproto.sync.listBlobs', { did: alice.did, cursor: blobCid })
    assert.deepEqual(page2.json.cids, [])
    assert.equal(page2.json.cursor, undefined)
    const rev = (await get('com.atproto.sync.getLatestCommit', { did: alice.did })).json.rev
    const since = await get('com.atproto.sync.listBlobs', { did: alice.did, since: rev })
    assert.deepEqual(since.json.cids, [])
    const big = await get('com.atproto.sync.listBlobs', { did: alice.did, limit: '1001' })
    assert.equal(big.status, 400)
    assert.equal(big.json.error, 'InvalidRequest')
  })
})

describe('heads and status', () => {
  test('getLatestCommit, getHead and getRepoStatus agree with the store', async () => {
    const head = pds.hearth.services.actors.get(bob.did)!.head()!
    const latest = await get('com.atproto.sync.getLatestCommit', { did: bob.did })
    assert.deepEqual(latest.json, { cid: head.cid.$link, rev: head.rev })
    const legacy = await get('com.atproto.sync.getHead', { did: bob.did })
    assert.deepEqual(legacy.json, { root: head.cid.$link })
    const status = await get('com.atproto.sync.getRepoStatus', { did: bob.did })
    assert.deepEqual(status.json, { did: bob.did, active: true, rev: head.rev })
  })

  test('listRepos pages through every repo with status flags', async () => {
    const extra = await makeAccount(pds, 'carol')
    const seen: any[] = []
    let cursor: string | undefined
    for (let i = 0; i < 10; i++) {
      const res = await get('com.atproto.sync.listRepos', { limit: '1', ...(cursor ? { cursor } : {}) })
      assert.equal(res.status, 200)
      seen.push(...res.json.repos)
      cursor = res.json.cursor
      if (res.json.repos.length === 0) break
    }
    assert.deepEqual(seen.map((r) => r.did), [alice.did, bob.did, extra.did])
    for (const r of seen) {
      assert.equal(r.active, true)
      assert.equal(r.head, pds.hearth.services.actors.get(r.did)!.head()!.cid.$link)
      assert.equal(r.rev, pds.hearth.services.actors.get(r.did)!.head()!.rev)
    }
    const big = await get('com.atproto.sync.listRepos', { limit: '1001' })
    assert.equal(big.status, 400)
    assert.equal(big.json.error, 'InvalidRequest')
    const bad = await get('com.atproto.sync.listRepos', { cursor: 'garbage::x' })
    assert.equal(bad.status, 400)
    assert.equal(bad.json.error, 'InvalidRequest')
  })
})

describe('account state', () => {
  const readers: Array<[string, (did: string) => Record<string, string>]> = [
    ['com.atproto.sync.getRepo', (did) => ({ did })],
    ['com.atproto.sync.getLatestCommit', (did) => ({ did })],
    ['com.atproto.sync.getRecord', (did) => ({ did, collection: COL, rkey: 'only' })],
    ['com.atproto.sync.listBlobs', (did) => ({ did })],
    ['com.atproto.sync.getHead', (did) => ({ did })],
    ['com.atproto.sync.getCheckout', (did) => ({ did })],
  ]

  test('an unknown DID is RepoNotFound everywhere, never a 500', async () => {
    for (const [nsid, q] of [...readers, ['com.atproto.sync.getRepoStatus', (did: string) => ({ did })] as const]) {
      const res = await get(nsid, q('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'))
      assert.equal(res.status, 400, nsid)
      assert.equal(res.json.error, 'RepoNotFound', nsid)
    }
    const blocks = await get('com.atproto.sync.getBlocks', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', cids: ['bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'] })
    assert.equal(blocks.json.error, 'RepoNotFound')
  })

  test('a deactivated repo is RepoDeactivated for others, readable by itself and the admin', async () => {
    const s = pds.hearth.services
    s.accounts.deactivateAccount(bob.did)
    try {
      for (const [nsid, q] of readers) {
        const res = await get(nsid, q(bob.did))
        assert.equal(res.status, 400, nsid)
        assert.equal(res.json.error, 'RepoDeactivated', nsid)
      }
      const self = await get('com.atproto.sync.getLatestCommit', { did: bob.did }, bearer(bob))
      assert.equal(self.status, 200)
      const admin = await get('com.atproto.sync.getRepo', { did: bob.did }, adminHeader())
      assert.equal(admin.status, 200)
      // Alice's credentials do not open Bob's repo.
      const other = await get('com.atproto.sync.getLatestCommit', { did: bob.did }, bearer(alice))
      assert.equal(other.json.error, 'RepoDeactivated')
      const status = await get('com.atproto.sync.getRepoStatus', { did: bob.did })
      assert.deepEqual(status.json, { did: bob.did, active: false, status: 'deactivated' })
      const listed = await get('com.atproto.sync.listRepos', {})
      const row = listed.json.repos.find((r: any) => r.did === bob.did)
      assert.equal(row.active, false)
      assert.equal(row.status, 'deactivated')
    } finally {
      s.accounts.activateAccount(bob.did)
      s.sequencer.append([accountEvent(bob.did, 'active')])
    }
    assert.equal((await get('com.atproto.sync.getLatestCommit', { did: bob.did })).status, 200)
  })

  test('a taken-down repo is RepoTakendown, blobs included', async () => {
    const s = pds.hearth.services
    s.accounts.setTakedown(bob.did, { applied: true, ref: 'test-takedown' })
    try {
      for (const [nsid, q] of [...readers, ['com.atproto.sync.getBlob', (did: string) => ({ did, cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' })] as const]) {
        const res = await get(nsid, q(bob.did))
        assert.equal(res.status, 400, nsid)
        assert.equal(res.json.error, 'RepoTakendown', nsid)
      }
      const status = await get('com.atproto.sync.getRepoStatus', { did: bob.did })
      assert.deepEqual(status.json, { did: bob.did, active: false, status: 'takendown' })
      const admin = await get('com.atproto.sync.getLatestCommit', { did: bob.did }, adminHeader())
      assert.equal(admin.status, 200)
    } finally {
      s.accounts.setTakedown(bob.did, { applied: false })
    }
  })

  test('a bad Authorization header is refused, not ignored', async () => {
    const res = await get('com.atproto.sync.getLatestCommit', { did: alice.did }, { authorization: 'Bearer garbage' })
    assert.equal(res.status, 400)
    assert.equal(res.json.error, 'InvalidToken')
  })
})
