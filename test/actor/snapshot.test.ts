import assert from 'node:assert/strict'
import { test } from 'node:test'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { CAR_CHUNK_SIZE, carToBytes, writeCar } from '../../src/repo/car/index.ts'
import { cidForRaw, parseCid } from '../../src/repo/cid.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { PAGE_BYTES } from '../../src/actor/snapshot.ts'
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

test('allBlocks: a page stops at the block that reaches its byte budget, so a repo of large blocks is never read hundreds of MiB at a time', async () => {
  // getRepo is public: without the bound, 256 blocks of 64 KiB came back as one 16 MiB page (and
  // 256 blocks of ~4 MB would pass SQLite's value limit).
  const did = 'did:plc:snapshotlarge0000000000'
  const store = actors.create(did, Secp256k1Keypair.create())
  initRepo(store)
  const db = openDb(actors.location(did).dbLocation)
  const sizes = [0, 3, 64 * 1024, 200 * 1024, PAGE_BYTES + 7, 64 * 1024, 1]
  try {
    const insert = db.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?)')
    for (let i = 0; i < 600; i++) {
      // Small blocks (so the first page is 256 rows), then a large one every 20 rows.
      const size = i >= 300 && i % 20 === 19 ? sizes[((i - 300) / 20) % sizes.length | 0]! : sizes[i % 2]!
      const bytes = new Uint8Array(size + 2).fill(i & 0xff).subarray(2)
      const id = new Uint8Array(bytes.buffer)
      id[0] = i >> 8
      id[1] = i & 0xff
      insert.run(cidForRaw(id).$link, 'zzzzzzzzzzzzz', bytes.length, bytes)
    }
  } finally {
    db.close()
  }
  const check = openDb(actors.location(did).dbLocation, { readonly: true })
  const rows = check.prepare('SELECT "cid", "content" FROM repo_block ORDER BY rowid').raw().all() as Array<[string, Uint8Array]>
  check.close()
  const largest = Math.max(...rows.map(([, bytes]) => bytes.length))
  const snapshot = actors.snapshot(did)
  try {
    const head = snapshot.head!.cid
    for (const budget of [PAGE_BYTES, 100 * 1024, 1]) {
      const pages = [...snapshot.allBlocks(budget)]
      let blocks = 0
      for (const page of pages) {
        const lengths = page.lengths.split(',').map(Number)
        blocks += lengths.length
        assert.equal(page.bytes.length, lengths.reduce((a, b) => a + b, 0))
        // Every block but the page's last starts below the budget.
        assert.ok(page.bytes.length - lengths.at(-1)! < Math.max(1, budget), `a page of ${page.bytes.length} bytes over a budget of ${budget}`)
        assert.ok(page.bytes.length < budget + largest)
        assert.ok(lengths.length <= 256)
      }
      assert.equal(blocks, rows.length)
      // A budget of one byte: a page per block, but an empty block adds nothing, so it shares a page.
      if (budget === 1) assert.equal(pages.length, rows.filter(([, bytes], i) => i === 0 || rows[i - 1]![1].length > 0).length)
      if (budget === PAGE_BYTES) assert.ok(pages.some((page) => page.lengths.split(',').length === 256), 'small blocks still come 256 to a page')
    }
    const expected = carToBytes(head, rows.map(([cid, bytes]) => [parseCid(cid), bytes] as const))
    assert.deepEqual(await carOf(snapshot.allBlocks(), head), expected)
    assert.deepEqual(await carOf(snapshot.allBlocks(1), head), expected)
  } finally {
    snapshot.close()
  }
})
