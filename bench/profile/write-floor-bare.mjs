// The other server `write-floor.ts` measures: the durable work of a createRecord on the official
// schema and nothing more, with no Hearth code at all. Per POST: parse the JSON body, encode the
// record as DAG-CBOR and hash it; make the blocks a one-post commit writes (the record, six MST
// nodes of ~250 bytes, the commit, each keyed by its sha-256, so at random places in the block
// table's CID key as real CIDs are); sign the commit (one libsecp256k1 signature); then one
// transaction on the store (the 8 blocks put, the previous commit's 7 dropped, the record row,
// the repo root) and one insert into the event log (an event of ~1.5 KB), both with the official
// schema alone and Hearth's settings (WAL, synchronous NORMAL, the same checkpoint size), before
// the answer. No MST is built and no real CAR is written, so this is below what any server keeping
// the official's files can do; the request path is bare node:http.
// Run as `node write-floor-bare.mjs <port> <data dir>` on a folder write-floor.ts prepared; says
// `ready` on IPC when it listens.
import { createHash, randomFillSync } from 'node:crypto'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { encode } from '@atcute/cbor'

const require = createRequire(import.meta.url)
const NODE_MAJOR = Number(process.versions.node.split('.')[0])
const Database = NODE_MAJOR >= 22 ? require('better-sqlite3-napi') : require('better-sqlite3')
const secp = require('secp256k1')

const port = Number(process.argv[2])
const dir = process.argv[3]
const open = (file) => {
  const db = new Database(join(dir, file))
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000')
  return db
}
// The files hold the official schema already: write-floor.ts made them with the official
// migrations (Hearth's own tables and indexes left out).
const store = open('store.sqlite')
const log = open('sequencer.sqlite')
const did = 'did:plc:writefloor00000000000000'
const putBlock = store.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
const dropBlock = store.prepare('DELETE FROM repo_block WHERE "cid" = ?')
const putRecord = store.prepare('INSERT INTO record ("uri", "cid", "collection", "rkey", "repoRev", "indexedAt") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("uri") DO UPDATE SET "cid" = excluded."cid", "repoRev" = excluded."repoRev", "indexedAt" = excluded."indexedAt"')
const putRoot = store.prepare('INSERT INTO repo_root ("did", "cid", "rev", "indexedAt") VALUES (?, ?, ?, ?) ON CONFLICT ("did") DO UPDATE SET "cid" = excluded."cid", "rev" = excluded."rev", "indexedAt" = excluded."indexedAt"')
const append = log.prepare('INSERT INTO repo_seq ("did", "eventType", "event", "invalidated", "sequencedAt") VALUES (?, ?, ?, 0, ?)')
const key = createHash('sha256').update('write-floor-bare').digest()
const cidOf = (bytes) => 'bafyrei' + createHash('sha256').update(bytes).digest('hex').slice(0, 52)
let previous = []
let n = 0
const commit = store.transaction((blocks, rev, uri, recordCid, rkey, now, commitCid) => {
  for (const [cid, bytes] of blocks) putBlock.run(cid, rev, bytes.length, bytes)
  for (const cid of previous) dropBlock.run(cid)
  putRecord.run(uri, recordCid, 'app.bsky.feed.post', rkey, rev, now)
  putRoot.run(did, commitCid, rev, now)
})

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const rev = (1e15 + n++).toString(32)
    const rkey = rev
    const uri = `at://${did}/${body.collection}/${rkey}`
    const record = encode(body.record)
    const recordCid = cidOf(record)
    const blocks = [[recordCid, record]]
    for (let i = 0; i < 6; i++) {
      const node = randomFillSync(Buffer.allocUnsafe(250))
      blocks.push([cidOf(node), node])
    }
    const unsigned = encode({ did, rev, version: 3, data: blocks[1][0], prev: null })
    const { signature } = secp.ecdsaSign(createHash('sha256').update(unsigned).digest(), key)
    const signed = Buffer.concat([unsigned, signature])
    const commitCid = cidOf(signed)
    blocks.push([commitCid, signed])
    const now = new Date().toISOString()
    commit(blocks, rev, uri, recordCid, rkey, now, commitCid)
    previous = blocks.slice(1).map(([cid]) => cid)
    append.run(did, 'append', Buffer.concat(blocks.map(([, bytes]) => bytes)), now)
    const answer = JSON.stringify({ uri, cid: recordCid, commit: { cid: commitCid, rev }, validationStatus: 'valid' })
    res.setHeader('Content-Type', 'application/json; charset=utf-8')
    res.setHeader('Content-Length', Buffer.byteLength(answer))
    res.end(answer)
  })
})
server.keepAliveTimeout = 90_000
server.listen(port, '127.0.0.1', () => process.send?.('ready'))
process.on('SIGTERM', () => {
  server.close()
  store.close()
  log.close()
  process.exit(0)
})
