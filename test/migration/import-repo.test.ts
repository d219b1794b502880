// com.atproto.repo.importRepo and listMissingBlobs on Hearth alone: a good import replaces the
// repo (re-signed, records and blob links re-indexed), and every kind of bad body is refused with
// a clear XRPC error and leaves the repo exactly as it was.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { carToBytes } from '../../src/repo/car/index.ts'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForRaw } from '../../src/repo/cid.ts'
import { buildCommit, prepareWrite } from '../../src/repo/commit-builder.ts'
import { decodeCommit, encodeCommit, signCommit } from '../../src/repo/commit.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { readCar } from '../../src/repo/car/index.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { pngBytes } from './helpers.ts'

const MAX_IMPORT = 64 * 1024

let pds: TestPds
let alice: Awaited<ReturnType<TestPds['createAccount']>>
let bob: Awaited<ReturnType<TestPds['createAccount']>>

before(async () => {
  pds = await startTestPds({ env: { PDS_MAX_REPO_IMPORT_SIZE: String(MAX_IMPORT) } })
  alice = await pds.createAccount('alice')
  bob = await pds.createAccount('bob')
  for (let i = 0; i < 5; i++) await alice.agent.post({ text: `post ${i}` })
  await bob.agent.post({ text: 'bob post' })
})

after(async () => {
  await pds?.close()
})

async function exportRepo(did: string): Promise<Uint8Array> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${did}`)
  assert.equal(res.status, 200)
  return new Uint8Array(await res.arrayBuffer())
}

async function importCar(accessJwt: string | undefined, body: Uint8Array | ReadableStream<Uint8Array>): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/vnd.ipld.car' }
  if (accessJwt) headers.authorization = `Bearer ${accessJwt}`
  const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.importRepo`, {
    method: 'POST',
    headers,
    body,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit)
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : null }
}

function jwtOf(who: typeof alice): string {
  return who.agent.session?.accessJwt as string
}

async function head(did: string): Promise<{ cid: string; rev: string }> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)
  return (await res.json()) as { cid: string; rev: string }
}

async function postUris(did: string): Promise<string[]> {
  const res = await pds.agent().com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 100 })
  return res.data.records.map((r) => r.uri)
}

/** Runs `fn` (expected to be refused) and checks the repo did not change at all. */
async function assertRefused(body: Uint8Array | ReadableStream<Uint8Array>, status: number, message: RegExp, error = 'InvalidRequest'): Promise<void> {
  const before = await head(alice.did)
  const postsBefore = await postUris(alice.did)
  const res = await importCar(jwtOf(alice), body)
  assert.equal(res.status, status, JSON.stringify(res.json))
  assert.equal(res.json.error, error)
  assert.match(res.json.message, message)
  assert.deepEqual(await head(alice.did), before)
  assert.deepEqual(await postUris(alice.did), postsBefore)
}

test('re-importing an earlier export rolls the repo back, re-signed with the account key', async () => {
  const earlier = await exportRepo(alice.did)
  const extra = await alice.agent.post({ text: 'written after the export' })
  assert.equal((await postUris(alice.did)).length, 6)
  const res = await importCar(jwtOf(alice), earlier)
  assert.equal(res.status, 200, JSON.stringify(res.json))
  const uris = await postUris(alice.did)
  assert.equal(uris.length, 5)
  assert.ok(!uris.includes(extra.uri))
  // What is served is a fresh commit over the imported tree, verifiable with the DID's key.
  const now = await readCarWithRoot(await exportRepo(alice.did))
  const then = await readCarWithRoot(earlier)
  assert.notEqual(now.root.toString(), then.root.toString())
  const signingKey = pds.hearth.services.actors.get(alice.did)?.keypair().did() as string
  const verified = await verifyRepo(now.blocks, now.root, alice.did, signingKey)
  assert.equal(verified.creates.length, 5)
  assert.equal(verified.commit.rev, (await head(alice.did)).rev)
  // Writes go on from the imported state.
  await alice.agent.post({ text: 'after the import' })
  assert.equal((await postUris(alice.did)).length, 6)
})

test('imported records referencing absent blobs are listed by listMissingBlobs, with a cursor', async () => {
  // Two posts whose image blobs exist on Bob's side only: export after they are committed there.
  const up1 = await bob.agent.uploadBlob(pngBytes(11), { encoding: 'image/png' })
  const up2 = await bob.agent.uploadBlob(pngBytes(12), { encoding: 'image/png' })
  for (const up of [up1, up2]) {
    await bob.agent.post({ text: 'pic', embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } })
  }
  const car = await exportRepo(bob.did)
  // Drop Bob's blobs from the store, as if the repo had arrived from elsewhere without them.
  const store = pds.hearth.services.actors.get(bob.did)
  assert.ok(store)
  store.db.prepare('DELETE FROM blob').run()
  const res = await importCar(jwtOf(bob), car)
  assert.equal(res.status, 200, JSON.stringify(res.json))

  const first = await bob.agent.com.atproto.repo.listMissingBlobs({ limit: 1 })
  assert.equal(first.data.blobs.length, 1)
  assert.ok(first.data.cursor)
  const second = await bob.agent.com.atproto.repo.listMissingBlobs({ limit: 1, cursor: first.data.cursor })
  assert.equal(second.data.blobs.length, 1)
  const third = await bob.agent.com.atproto.repo.listMissingBlobs({ limit: 1, cursor: second.data.cursor })
  assert.equal(third.data.blobs.length, 0)
  assert.equal(third.data.cursor, undefined)
  const listed = [first.data.blobs[0], second.data.blobs[0]]
  assert.deepEqual(listed.map((b) => b.cid).sort(), [up1.data.blob.ref.toString(), up2.data.blob.ref.toString()].sort())
  for (const b of listed) assert.match(b.recordUri, new RegExp(`^at://${bob.did}/app.bsky.feed.post/`))

  // Uploading one makes it no longer missing.
  await bob.agent.uploadBlob(pngBytes(11), { encoding: 'image/png' })
  const after = await bob.agent.com.atproto.repo.listMissingBlobs({})
  assert.deepEqual(after.data.blobs.map((b) => b.cid), [up2.data.blob.ref.toString()])
})

test('importRepo and listMissingBlobs need credentials', async () => {
  const res = await importCar(undefined, await exportRepo(alice.did))
  assert.equal(res.status, 401)
  const list = await fetch(`${pds.url}/xrpc/com.atproto.repo.listMissingBlobs`)
  assert.equal(list.status, 401)
})

test('refused: a repo of another DID', async () => {
  await assertRefused(await exportRepo(bob.did), 400, /commit is for did:plc:.*expected/)
})

test('refused: a commit signed by a key the DID never had', async () => {
  const { root, blocks } = readCar(await exportRepo(alice.did))
  const commit = decodeCommit(blocks.getBlock(root as Cid) as Uint8Array)
  const forged = encodeCommit(signCommit({ did: commit.did, version: 3, data: commit.data, rev: commit.rev, prev: null }, Secp256k1Keypair.create()))
  const out = new BlockMap()
  for (const [cid, bytes] of blocks) if (cid.$link !== (root as Cid).$link) out.set(cid, bytes)
  out.set(forged.cid, forged.bytes)
  await assertRefused(carToBytes(forged.cid, out), 400, /signature/)
})

test('refused: a CAR missing a block the PDS does not already have', async () => {
  // A next commit of Alice's repo with one new record, signed with her own key: valid except
  // for the block left out of the CAR.
  const store = pds.hearth.services.actors.get(alice.did)
  assert.ok(store)
  const headNow = store.head()
  assert.ok(headNow)
  const record = { $type: 'app.bsky.feed.post', text: 'never arrives', createdAt: new Date().toISOString() }
  const next = buildCommit({ did: alice.did, commitCid: headNow.cid, rev: headNow.rev }, store.tree(), [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaaa2', record })], store.keypair())
  const { blocks } = readCar(await exportRepo(alice.did))
  const all = new BlockMap()
  for (const [cid, bytes] of blocks) all.set(cid, bytes)
  for (const [cid, bytes] of next.newBlocks) all.set(cid, bytes)
  const recordCid = next.ops[0].cid as Cid
  await assertRefused(carToBytes(next.cid, [...all].filter(([cid]) => cid.$link !== recordCid.$link)), 400, /missing record/)
  await assertRefused(carToBytes(next.cid, [...all].filter(([cid]) => cid.$link !== next.data.$link)), 400, /missing MST node/)
  // With every block it is accepted, as a sanity check of the construction.
  const ok = await importCar(jwtOf(alice), carToBytes(next.cid, all))
  assert.equal(ok.status, 200, JSON.stringify(ok.json))
  assert.ok((await postUris(alice.did)).some((u) => u.endsWith('/3kaaaaaaaaaa2')))
})

test('refused: garbage, an empty body, several roots', async () => {
  await assertRefused(new Uint8Array(randomBytes(3000)), 400, /Invalid CAR file/)
  await assertRefused(new Uint8Array(0), 400, /body|CAR/)
  const car = await exportRepo(alice.did)
  const { root } = readCar(car)
  const header = encodeCbor({ version: 1, roots: [root, cidForRaw(new Uint8Array([1]))] })
  const oldHeaderLen = car[0] // < 128: a one-byte varint
  const twoRoots = new Uint8Array([header.length, ...header, ...car.subarray(1 + oldHeaderLen)])
  await assertRefused(twoRoots, 400, /expected one root/)
})

test('refused: a body over PDS_MAX_REPO_IMPORT_SIZE, announced or streamed', async () => {
  const { root, blocks } = readCar(await exportRepo(alice.did))
  const padding = new Uint8Array(MAX_IMPORT)
  const big = carToBytes(root, [...blocks, [cidForRaw(padding), padding] as const])
  // With a Content-Length the router refuses it before reading.
  const announced = await importCar(jwtOf(alice), big)
  assert.equal(announced.status, 413)
  assert.equal(announced.json.error, 'PayloadTooLarge')
  // Streamed without a length, the CAR reader stops at the limit.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < big.length; i += 8192) controller.enqueue(big.subarray(i, i + 8192))
      controller.close()
    },
  })
  const before = await head(alice.did)
  const res = await importCar(jwtOf(alice), stream)
  assert.ok(res.status === 413 || res.status === 400, `status ${res.status}`)
  assert.ok(res.json.error === 'PayloadTooLarge' || /exceeds/.test(res.json.message), JSON.stringify(res.json))
  assert.deepEqual(await head(alice.did), before)
})
