import assert from 'node:assert/strict'
import { test } from 'node:test'
import { listRecordsJson, RecordJsonCache, recordJson } from '../../src/actor/record-listing.ts'
import { commitWrites, initRepo } from '../../src/actor/transactor.ts'
import { decodeCbor } from '../../src/repo/cbor.ts'
import { prepareWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { lexToJson } from '../../src/repo/data-model.ts'
import { tempActorStores } from '../helpers/actor-stores.ts'

const { sequencer, actors } = tempActorStores('hearth-listing-')

const DID = 'did:plc:recordlistingtest000000000'
const COL = 'app.bsky.feed.post'
const store = actors.create(DID, Secp256k1Keypair.create())
initRepo(store)
const writes = Array.from({ length: 60 }, (_, i) =>
  prepareWrite({
    action: 'create',
    collection: i % 4 === 3 ? 'app.bsky.feed.like' : COL,
    rkey: `3k${(500000 + i).toString(36)}aaaa`,
    record: { $type: COL, text: `post ${i} with "quotes", é and 🦋`, createdAt: new Date(1_700_000_000_000 + i).toISOString(), n: i },
  }),
)
commitWrites(store, sequencer, { writes })
store.setRecordTakedown(`at://${DID}/${COL}/${writes[10].rkey}`, 'takedown-1')

/** The listing as it was answered before: the index joined with the blocks, each record decoded and stringified. */
function reference(opts: { limit: number; cursor?: string; reverse?: boolean }) {
  const rows = store.listRecords(COL, opts)
  const body: Record<string, unknown> = { records: rows.map((r) => ({ uri: r.uri, cid: r.cid, value: lexToJson(decodeCbor(r.content)) })) }
  if (rows.length > 0) body.cursor = rows[rows.length - 1].rkey
  return JSON.stringify(body)
}

test('listRecordsJson: the same text as decoding and stringifying, in both orders, page by page, without taken-down records', () => {
  const cache = new RecordJsonCache(1 << 20)
  for (const reverse of [false, true]) {
    let cursor: string | undefined
    let seen = 0
    for (let page = 0; page < 10; page++) {
      const text = listRecordsJson(store.db, COL, { limit: 7, cursor, reverse }, cache).toString('utf8')
      assert.equal(text, reference({ limit: 7, cursor, reverse }), `page ${page}${reverse ? ' reversed' : ''}`)
      const parsed = JSON.parse(text) as { records: Array<{ uri: string }>; cursor?: string }
      seen += parsed.records.length
      if (parsed.records.length < 7) break
      cursor = parsed.cursor
    }
    assert.equal(seen, 44, '45 posts, one taken down')
  }
  // Served from the cache the second time round: the same text.
  assert.equal(cache.size, 44)
  const again = listRecordsJson(store.db, COL, { limit: 100 }, cache).toString('utf8')
  assert.equal(again, reference({ limit: 100 }))
  assert.equal(listRecordsJson(store.db, 'app.bsky.nothing', { limit: 10 }, cache).toString(), '{"records":[]}')
})

test('listRecordsJson: the listing reads the collection+rkey index, not the whole table', () => {
  for (const dirn of ['<', '>']) {
    const plan = store.db
      .prepare(`EXPLAIN QUERY PLAN SELECT "uri", "cid" FROM record WHERE "collection" = ? AND (? OR "takedownRef" IS NULL) AND "rkey" ${dirn} ? ORDER BY "rkey" LIMIT ?`)
      .all(COL, 0, '', 10) as Array<{ detail: string }>
    assert.match(plan.map((p) => p.detail).join('; '), /hearth_record_collection_rkey_idx/)
  }
})

test('RecordJsonCache: stays within its budget, oldest out first, and keeps no record too large for it', () => {
  const cache = new RecordJsonCache(10_000)
  for (let i = 0; i < 100; i++) cache.set(i, `${i} at://x/y/${i} cid${i}`, Buffer.alloc(200, 0x61))
  assert.ok(cache.bytes <= 10_000, `${cache.bytes} bytes`)
  assert.equal(cache.get(0, '0 at://x/y/0 cid0'), undefined, 'the oldest went first')
  assert.ok(cache.get(99, '99 at://x/y/99 cid99'), 'the newest stays')
  cache.set(100, '100 at://x/y/big big', Buffer.alloc(1000))
  assert.equal(cache.get(100, '100 at://x/y/big big'), undefined)
})

test('RecordJsonCache: an entry answers only the row it was made from; a number used again replaces it', () => {
  const cache = new RecordJsonCache(10_000)
  const json = Buffer.from('{"uri":"at://x/y/1","cid":"cidA","value":{}}')
  cache.set(7, '1 at://x/y/1 cidA', json)
  assert.equal(cache.get(7, '1 at://x/y/1 cidA'), json)
  // The record rewritten (another CID), or the number come round for another row: a miss.
  assert.equal(cache.get(7, '1 at://x/y/1 cidB'), undefined)
  assert.equal(cache.get(7, '1 at://z/y/1 cidA'), undefined)
  const before = cache.bytes
  cache.set(7, '1 at://x/y/1 cidB', Buffer.from('{"uri":"at://x/y/1","cid":"cidB","value":{}}'))
  assert.equal(cache.size, 1)
  assert.equal(cache.bytes, before, 'the old entry went with its bytes')
  assert.equal(cache.get(7, '1 at://x/y/1 cidA'), undefined)
})

test('listRecordsJson: the cache outlives a reopened connection to the store', () => {
  const cache = new RecordJsonCache(1 << 20)
  const before = listRecordsJson(store.db, COL, { limit: 100 }, cache).toString('utf8')
  const entries = cache.size
  assert.ok(entries > 0)
  const firstConnection = store.db
  // Closed as the cache closes it; the next use opens a new connection.
  store.close()
  assert.notEqual(store.db, firstConnection)
  assert.equal(listRecordsJson(store.db, COL, { limit: 100 }, cache).toString('utf8'), before)
  assert.equal(cache.size, entries, 'served from the entries made through the first connection')
})

test('listRecordsJson: a record rewritten in place (same rowid, new CID) is listed as it is now', () => {
  const col = 'app.bsky.actor.profile'
  const cache = new RecordJsonCache(1 << 20)
  const first = prepareWrite({ action: 'create', collection: col, rkey: 'self', record: { $type: col, displayName: 'before' } })
  commitWrites(store, sequencer, { writes: [first] })
  assert.match(listRecordsJson(store.db, col, { limit: 10 }, cache).toString('utf8'), /"displayName":"before"/)
  const rowid = () => store.db.prepare('SELECT rowid FROM record WHERE "uri" = ?').pluck().get(`at://${DID}/${col}/self`)
  const rowidBefore = rowid()
  commitWrites(store, sequencer, { writes: [prepareWrite({ action: 'update', collection: col, rkey: 'self', record: { $type: col, displayName: 'after' } })] })
  assert.equal(rowid(), rowidBefore, 'the upsert kept the row, and so the cache number')
  const text = listRecordsJson(store.db, col, { limit: 10 }, cache).toString('utf8')
  assert.match(text, /"displayName":"after"/)
  assert.equal(text, reference2(col, { limit: 10 }))
})

test('listRecordsJson: the same bytes at two URIs are each listed with their own URI, cached or not', () => {
  const col = 'app.bsky.feed.repost'
  const same = { $type: col, subject: { uri: `at://${DID}/${COL}/x`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mmoq7u' }, createdAt: '2024-01-01T00:00:00.000Z' }
  const twins = ['3kaaaaaaaaaa2', '3kaaaaaaaaaa3'].map((rkey) => prepareWrite({ action: 'create', collection: col, rkey, record: same }))
  commitWrites(store, sequencer, { writes: twins })
  const cache = new RecordJsonCache(1 << 20)
  for (let round = 0; round < 3; round++) {
    for (const reverse of [false, true]) {
      const parsed = JSON.parse(listRecordsJson(store.db, col, { limit: 10, reverse }, cache).toString('utf8')) as { records: Array<{ uri: string; cid: string }> }
      const uris = parsed.records.map((r) => r.uri)
      const expected = twins.map((w) => `at://${DID}/${col}/${w.rkey}`)
      assert.deepEqual(uris, reverse ? expected : [...expected].reverse(), `round ${round}${reverse ? ' reversed' : ''}`)
      assert.equal(parsed.records[0]?.cid, parsed.records[1]?.cid, 'one CID for both')
      assert.equal(listRecordsJson(store.db, col, { limit: 10, reverse }, cache).toString('utf8'), reference2(col, { limit: 10, reverse }))
    }
  }
  // Cached by URI and CID together: an entry each, though they share a CID.
  assert.equal(cache.size, 2)
})

function reference2(collection: string, opts: { limit: number; reverse?: boolean }) {
  const rows = store.listRecords(collection, opts)
  const body: Record<string, unknown> = { records: rows.map((r) => ({ uri: r.uri, cid: r.cid, value: lexToJson(decodeCbor(r.content)) })) }
  if (rows.length > 0) body.cursor = rows[rows.length - 1].rkey
  return JSON.stringify(body)
}

test('recordJson: the getRecord answer as decoding and stringifying gives it; none for a taken-down record, another CID or no record', () => {
  for (const w of writes.slice(0, 12)) {
    const uri = `at://${DID}/${w.collection}/${w.rkey}`
    const row = store.getRecord(w.collection, w.rkey)
    assert.ok(row)
    const text = recordJson(store.db, uri, undefined)
    if (row.takedownRef !== null) {
      assert.equal(text, null, 'taken down')
      continue
    }
    const expected = JSON.stringify({ uri, cid: row.cid.$link, value: lexToJson(decodeCbor(row.content)) })
    assert.equal(text?.toString('utf8'), expected)
    assert.equal(recordJson(store.db, uri, row.cid.$link)?.toString('utf8'), expected, 'with its own CID')
    assert.equal(recordJson(store.db, uri, 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mmoq7u'), null, 'another CID')
  }
  assert.equal(recordJson(store.db, `at://${DID}/${COL}/3knothere`, undefined), null)
})

test('a record whose block is missing reads as absent, to getRecord and recordJson alike', () => {
  const did = 'did:plc:recordlistingmissing0000'
  const other = actors.create(did, Secp256k1Keypair.create())
  initRepo(other)
  const [kept, lost] = [0, 1].map((i) =>
    prepareWrite({ action: 'create', collection: COL, rkey: `3k${(600000 + i).toString(36)}aaaa`, record: { $type: COL, text: `post ${i}`, createdAt: new Date(1_700_000_000_000 + i).toISOString() } }),
  )
  commitWrites(other, sequencer, { writes: [kept, lost] })
  const lostRow = other.getRecord(COL, lost.rkey)
  assert.ok(lostRow)
  // Only a damaged or hand-edited store is like this: the block table no longer has the record's block.
  other.db.prepare('DELETE FROM repo_block WHERE "cid" = ?').run(lostRow.cid.$link)
  assert.equal(other.getRecord(COL, lost.rkey), null)
  assert.equal(recordJson(other.db, `at://${did}/${COL}/${lost.rkey}`, undefined), null)
  assert.ok(other.getRecord(COL, kept.rkey), 'the other record still reads')
  assert.ok(recordJson(other.db, `at://${did}/${COL}/${kept.rkey}`, undefined))
})
