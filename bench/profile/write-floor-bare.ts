// The `bare` server of write-floor.ts: the durable work of a createRecord on the official schema
// and nothing more, with no Hearth code beyond the bare node:http of floor-http.ts. Per POST:
// encode the record as DAG-CBOR and hash it; make the blocks a one-post commit writes (the record,
// six MST nodes of ~250 bytes, the commit, each keyed by its sha-256, so at random places in the
// block table's CID key as real CIDs are); sign the commit (one libsecp256k1 signature); then one
// transaction on the store (the 8 blocks put, the previous commit's 7 dropped, the record row, the
// repo root) and one insert into the event log (an event of ~1.5 KB), both with the official
// schema alone and Hearth's settings (WAL, synchronous NORMAL, the same checkpoint size), before
// the answer. No MST is built and no real CAR is written, so this is below what any server keeping
// the official's files can do. Bundled by write-floor.ts and run on a data folder it prepared.
import { createHash, randomFillSync } from 'node:crypto'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { encode } from '@atcute/cbor'
import type BetterSqlite3 from 'better-sqlite3'
import { floorArgs, serveFloor } from './floor-http.ts'

const require = createRequire(import.meta.url)
// As src/storage/sqlite.ts chooses: better-sqlite3 13 (Node-API) from Node 22 on, 12 before.
const Database: typeof BetterSqlite3 = Number(process.versions.node.split('.')[0]) >= 22 ? require('better-sqlite3-napi') : require('better-sqlite3')
const secp = require('secp256k1') as { ecdsaSign(hash: Uint8Array, key: Uint8Array): { signature: Uint8Array } }

const { port, dir, did } = floorArgs()
const open = (file: string) => {
  const db = new Database(join(dir, file))
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000')
  return db
}
// The files hold the official schema already: write-floor.ts made them with the official
// migrations (Hearth's own tables and indexes left out).
const store = open('store.sqlite')
const log = open('sequencer.sqlite')
const putBlock = store.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
const dropBlock = store.prepare('DELETE FROM repo_block WHERE "cid" = ?')
const putRecord = store.prepare('INSERT INTO record ("uri", "cid", "collection", "rkey", "repoRev", "indexedAt") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("uri") DO UPDATE SET "cid" = excluded."cid", "repoRev" = excluded."repoRev", "indexedAt" = excluded."indexedAt"')
const putRoot = store.prepare('INSERT INTO repo_root ("did", "cid", "rev", "indexedAt") VALUES (?, ?, ?, ?) ON CONFLICT ("did") DO UPDATE SET "cid" = excluded."cid", "rev" = excluded."rev", "indexedAt" = excluded."indexedAt"')
const append = log.prepare('INSERT INTO repo_seq ("did", "eventType", "event", "invalidated", "sequencedAt") VALUES (?, ?, ?, 0, ?)')
const key = createHash('sha256').update('write-floor-bare').digest()
const cidOf = (bytes: Uint8Array) => 'bafyrei' + createHash('sha256').update(bytes).digest('hex').slice(0, 52)
let previous: string[] = []
let n = 0
const commit = store.transaction((blocks: Array<[string, Uint8Array]>, rev: string, uri: string, recordCid: string, rkey: string, now: string, commitCid: string) => {
  for (const [cid, bytes] of blocks) putBlock.run(cid, rev, bytes.length, bytes)
  for (const cid of previous) dropBlock.run(cid)
  putRecord.run(uri, recordCid, 'app.bsky.feed.post', rkey, rev, now)
  putRoot.run(did, commitCid, rev, now)
})

serveFloor(
  port,
  (body) => {
    const rev = (1e15 + n++).toString(32)
    const rkey = rev
    const uri = `at://${did}/${body.collection}/${rkey}`
    const record = encode(body.record)
    const recordCid = cidOf(record)
    const blocks: Array<[string, Uint8Array]> = [[recordCid, record]]
    for (let i = 0; i < 6; i++) {
      const node = randomFillSync(Buffer.allocUnsafe(250))
      blocks.push([cidOf(node), node])
    }
    const unsigned = encode({ did, rev, version: 3, data: (blocks[1] as [string, Uint8Array])[0], prev: null })
    const { signature } = secp.ecdsaSign(createHash('sha256').update(unsigned).digest(), key)
    const signed = Buffer.concat([unsigned, signature])
    const commitCid = cidOf(signed)
    blocks.push([commitCid, signed])
    const now = new Date().toISOString()
    commit(blocks, rev, uri, recordCid, rkey, now, commitCid)
    previous = blocks.slice(1).map(([cid]) => cid)
    append.run(did, 'append', Buffer.concat(blocks.map(([, bytes]) => bytes)), now)
    return { uri, cid: recordCid, commit: { cid: commitCid, rev }, validationStatus: 'valid' }
  },
  () => {
    store.close()
    log.close()
  },
)
