import assert from 'node:assert/strict'
import { test } from 'node:test'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { CAR_CHUNK_SIZE, carToBytes, writeCar } from '../../src/repo/car/index.ts'
import { cidForRaw, parseCid } from '../../src/repo/cid.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { tempActorStores } from '../helpers/actor-stores.ts'

const { sequencer, actors } = tempActorStores('hearth-snapshot-')

const DID = 'did:plc:snapshottest000000000000'

async function carOf(blocks: Parameters<typeof writeCar>[1], root: Parameters<typeof writeCar>[0]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const c of writeCar(root, blocks)) chunks.push(c)
  return new Uint8Array(Buffer.concat(chunks))
}

test('allBlocks: every row of the block table, bytes as stored, in table order, across pages and rowid gaps', async () => {
  const store = actors.create(DID, Secp256k1Keypair.create())
  initRepo(store)
  for (let i = 0; i < 600; i += 100) {
    const writes = Array.from({ length: 100 }, (_, j) =>
      prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: `3k${(600000 + i + j).toString(36)}aaaa`, record: { $type: 'app.bsky.feed.post', text: `post ${i + j}`, createdAt: new Date(1.7e12 + i + j).toISOString() } }),
    )
    commitWrites(store, sequencer, { writes })
  }
  // Rows no commit would write, to reach what the aggregate must carry through: bytes that are
  // not UTF-8 (NUL, 0xff, a lone continuation byte), an empty block, one larger than a chunk,
  // and gaps in the rowids.
  const db = openDb(actors.location(DID).dbLocation)
  try {
    const insert = db.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?)')
    const odd = [new Uint8Array([0, 0xff, 0x80, 0, 0xc3]), new Uint8Array(0), new Uint8Array(CAR_CHUNK_SIZE * 2 + 5).map((_, i) => (i * 7) & 0xff)]
    for (let i = 0; i < 40; i++) odd.push(new Uint8Array(3 + i).fill(i === 20 ? 0 : 0xfe))
    for (const bytes of odd) insert.run(cidForRaw(bytes).$link, 'zzzzzzzzzzzzz', bytes.length, bytes)
    db.prepare('DELETE FROM repo_block WHERE rowid % 13 = 5').run()
  } finally {
    db.close()
  }
  const check = openDb(actors.location(DID).dbLocation, { readonly: true })
  const rows = check.prepare('SELECT "cid", "content" FROM repo_block ORDER BY rowid').raw().all() as Array<[string, Uint8Array]>
  check.close()
  assert.ok(rows.length > 600, `${rows.length} rows: more than two pages`)

  const snapshot = actors.snapshot(DID)
  try {
    const head = snapshot.head!.cid
    const pages = [...snapshot.allBlocks()]
    assert.ok(pages.length >= 3, `${pages.length} pages`)
    const expected = carToBytes(head, rows.map(([cid, bytes]) => [parseCid(cid), bytes] as const))
    assert.deepEqual(await carOf(snapshot.allBlocks(), head), expected)
  } finally {
    snapshot.close()
  }
})

test('allBlocks: a page whose blocks are all empty still carries its bytes (none) and lengths, and a table that is a whole number of pages ends', async () => {
  // group_concat over nothing but empty values must give an empty value, not NULL: a NULL would
  // be a page without bytes, which the CAR writer cannot read.
  const did = 'did:plc:snapshotempty0000000000'
  const store = actors.create(did, Secp256k1Keypair.create())
  initRepo(store)
  const db = openDb(actors.location(did).dbLocation)
  try {
    db.prepare('DELETE FROM repo_block').run()
    const insert = db.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?)')
    for (let i = 0; i < 512; i++) insert.run(cidForRaw(new Uint8Array([i >> 8, i & 0xff])).$link, 'zzzzzzzzzzzzz', 0, new Uint8Array(0))
  } finally {
    db.close()
  }
  const check = openDb(actors.location(did).dbLocation, { readonly: true })
  const rows = check.prepare('SELECT "cid", "content" FROM repo_block ORDER BY rowid').raw().all() as Array<[string, Uint8Array]>
  check.close()
  const snapshot = actors.snapshot(did)
  try {
    const head = snapshot.head!.cid
    const pages = [...snapshot.allBlocks()]
    assert.equal(pages.length, 2)
    for (const page of pages) {
      assert.equal(page.bytes.length, 0)
      assert.equal(page.lengths, Array(256).fill('0').join(','))
    }
    const expected = carToBytes(head, rows.map(([cid, bytes]) => [parseCid(cid), bytes] as const))
    assert.deepEqual(await carOf(snapshot.allBlocks(), head), expected)
  } finally {
    snapshot.close()
  }
})
