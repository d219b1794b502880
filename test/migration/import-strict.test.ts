// importRepo is as strict as the write path: every key of the imported tree must be a record
// path a write could have made (collection an NSID, record key of record-key syntax), else the
// whole import is refused and nothing is stored; and the work an import causes is bounded by
// its size (no MST node taken twice, a record block shared by many keys decoded once).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { MemoryBlockstore, MST } from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { carToBytes } from '../../src/repo/car/index.ts'
import { BytesWrapper, encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor } from '../../src/repo/cid.ts'
import { encodeCommit, signCommit } from '../../src/repo/commit.ts'
import { commonPrefixLength, keyHeight } from '../../src/repo/mst/key.ts'
import { nextTid } from '../../src/repo/tid.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { fromRefCid, toRefCid } from '../helpers/reference.ts'
import { repoCar } from '../helpers/repo-car.ts'

let pds: TestPds
let alice: Awaited<ReturnType<TestPds['createAccount']>>

before(async () => {
  pds = await startTestPds({ env: { PDS_MAX_REPO_IMPORT_SIZE: String(8 * 1024 * 1024) } })
  alice = await pds.createAccount('alice')
  await alice.agent.post({ text: 'before any import' })
})

after(async () => {
  await pds?.close()
})

function store() {
  const s = pds.hearth.services.actors.get(alice.did)
  assert.ok(s)
  return s
}

async function importCar(car: Uint8Array): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL('/xrpc/com.atproto.repo.importRepo', pds.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.agent.session?.accessJwt}`, 'content-type': 'application/vnd.ipld.car' },
    body: car,
  })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : null }
}

function recordCount(): number {
  return (store().db.prepare('SELECT count(*) AS n FROM record').get() as { n: number }).n
}

async function assertRefused(car: Uint8Array, message: RegExp): Promise<void> {
  const head = store().head()?.cid.$link
  const records = recordCount()
  const blocks = (store().db.prepare('SELECT count(*) AS n FROM repo_block').get() as { n: number }).n
  const res = await importCar(car)
  assert.equal(res.status, 400, JSON.stringify(res.json))
  assert.equal(res.json.error, 'InvalidRequest')
  assert.match(res.json.message, message)
  assert.equal(store().head()?.cid.$link, head)
  assert.equal(recordCount(), records)
  assert.equal((store().db.prepare('SELECT count(*) AS n FROM repo_block').get() as { n: number }).n, blocks)
}

const BAD_KEYS: Array<[string, string]> = [
  ['a record key ".."', 'com.example.strict/..'],
  ['a record key "."', 'com.example.strict/.'],
  ['a collection ".."', '../3kabcdefghij2'],
  ['a collection that is no NSID', 'notansid/3kabcdefghij2'],
  ['a record key over 512 characters', `com.example.strict/${'a'.repeat(513)}`],
]

for (const [what, key] of BAD_KEYS) {
  test(`refused, storing nothing: a repo holding ${what}`, async () => {
    const { car } = await repoCar(alice.did, store().keypair(), [{ key: 'com.example.strict/fine' }, { key }])
    await assertRefused(car, /Invalid repo/)
  })
}

test('keys at the edge of the syntax are imported, read and deleted', async () => {
  const keys = ['com.example.strict/a:b~c_d-e.f', `com.example.strict/${'k'.repeat(512)}`, 'com.example.strict/self']
  const { car } = await repoCar(alice.did, store().keypair(), keys.map((key) => ({ key })))
  const res = await importCar(car)
  assert.equal(res.status, 200, JSON.stringify(res.json))
  for (const key of keys) {
    const rkey = key.slice(key.indexOf('/') + 1)
    const got = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'com.example.strict', rkey })
    assert.equal(got.data.uri, `at://${alice.did}/${key}`)
  }
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'com.example.strict', rkey: 'self' })
  assert.equal(recordCount(), 2)
})

/** Keys of `collection` whose MST layer is `layer`, in key order. */
function keysAtLayer(collection: string, layer: number, count: number): string[] {
  const out: string[] = []
  for (let i = 0; out.length < count; i++) {
    const key = `${collection}/k${i.toString().padStart(6, '0')}`
    if (keyHeight(key) === layer) out.push(key)
  }
  return out
}

test('refused: an MST node referenced twice', async () => {
  // A layer-1 root [X, k, X]: the same layer-0 subtree on both sides of a layer-1 key. Its
  // keys then come twice and out of order; the refusal must say what is wrong with the tree.
  const top = keysAtLayer('com.example.strict', 1, 5)[4]
  const low = keysAtLayer('com.example.strict', 0, 20).filter((k) => k < top).slice(0, 2)
  assert.equal(low.length, 2, 'test setup: two layer-0 keys below the layer-1 key')
  const blocks = new BlockMap()
  const recordCid = (n: number): Cid => {
    const bytes = encodeCbor({ $type: 'com.example.strict', n })
    const cid = cidForCbor(bytes)
    blocks.set(cid, bytes)
    return cid
  }
  const put = (value: unknown): Cid => {
    const bytes = encodeCbor(value)
    const cid = cidForCbor(bytes)
    blocks.set(cid, bytes)
    return cid
  }
  const keyBytes = (s: string) => new BytesWrapper(new TextEncoder().encode(s))
  const prefix = commonPrefixLength(low[0], low[1])
  const leafNode = put({
    e: [
      { k: keyBytes(low[0]), p: 0, t: null, v: recordCid(1) },
      { k: keyBytes(low[1].slice(prefix)), p: prefix, t: null, v: recordCid(2) },
    ],
    l: null,
  })
  const root = put({ e: [{ k: keyBytes(top), p: 0, t: leafNode, v: recordCid(3) }], l: leafNode })
  const commit = encodeCommit(signCommit({ did: alice.did, version: 3, data: root, rev: nextTid(), prev: null }, store().keypair()))
  blocks.set(commit.cid, commit.bytes)
  await assertRefused(carToBytes(commit.cid, blocks), /referenced more than once/)
  // With the subtree taken once, the same blocks are a valid repo: the construction is sound.
  const once = put({ e: [{ k: keyBytes(top), p: 0, t: null, v: recordCid(3) }], l: leafNode })
  const valid = encodeCommit(signCommit({ did: alice.did, version: 3, data: once, rev: nextTid(), prev: null }, store().keypair()))
  blocks.set(valid.cid, valid.bytes)
  const res = await importCar(carToBytes(valid.cid, blocks))
  assert.equal(res.status, 200, JSON.stringify(res.json))
  assert.equal(recordCount(), 3)
})

test('a record block shared by thousands of keys is decoded once: the import stays cheap', async () => {
  // One ~200 KB record (a long list of small maps: slow to decode and to walk) under 4,000 keys.
  // A repo of this size imports in well under a second when each block is handled once; taking
  // the record once per key costs seconds to minutes of CPU, with the event loop blocked.
  const heavy = encodeCbor({ $type: 'com.example.heavy', items: Array.from({ length: 20_000 }, (_, i) => ({ i })) })
  const heavyCid = cidForCbor(heavy)
  const blocks = new BlockMap()
  blocks.set(heavyCid, heavy)
  let mst = await MST.create(new MemoryBlockstore())
  for (let i = 0; i < 4000; i++) mst = await mst.add(`com.example.heavy/r${i.toString().padStart(5, '0')}`, toRefCid(heavyCid))
  const { root, blocks: nodes } = await mst.getUnstoredBlocks()
  nodes.forEach((bytes: Uint8Array, cid: { toString(): string }) => blocks.set(fromRefCid(cid), bytes))
  const commit = encodeCommit(signCommit({ did: alice.did, version: 3, data: fromRefCid(root), rev: nextTid(), prev: null }, store().keypair()))
  blocks.set(commit.cid, commit.bytes)
  const car = carToBytes(commit.cid, blocks)
  const started = performance.now()
  const res = await importCar(car)
  const elapsed = performance.now() - started
  assert.equal(res.status, 200, JSON.stringify(res.json))
  assert.equal(recordCount(), 4000)
  assert.ok(elapsed < 5000, `import took ${Math.round(elapsed)} ms`)
})
