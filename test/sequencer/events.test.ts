// The #commit body is written by hand into one buffer (sequencer/events.ts). Its bytes must be
// those of the generic encoder over the body as a value with the CAR built apart, which is how
// it was made before and what the official PDS stores: compared here on real commits of varied
// batches (creates, updates, deletes, the first commit), and through the fallback for a
// non-ASCII string.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlockMap } from '../../src/repo/block-map.ts'
import { carToBytes } from '../../src/repo/car/index.ts'
import { BytesWrapper, decodeCbor, encodeCbor } from '../../src/repo/cbor.ts'
import { buildCommit, type CommitData, prepareWrite, type RecordWrite } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { Mst } from '../../src/repo/mst/index.ts'
import { commitEvent } from '../../src/sequencer/events.ts'
import { prng } from '../helpers/reference.ts'

function genericBody(c: CommitData): Uint8Array {
  const blocks = new BlockMap().addMap(c.newBlocks).addMap(c.relevantBlocks)
  const body: Record<string, unknown> = {
    repo: c.did,
    commit: c.cid,
    rev: c.rev,
    since: c.since,
    blocks: new BytesWrapper(carToBytes(c.cid, blocks)),
    ops: c.ops.map((op) => (op.prev ? { action: op.action, path: op.path, cid: op.cid, prev: op.prev } : { action: op.action, path: op.path, cid: op.cid })),
    rebase: false,
    tooBig: false,
    blobs: [],
  }
  if (c.prevData) body.prevData = c.prevData
  return encodeCbor(body)
}

test('commitEvent: the hand-written #commit body equals the generic encoding on varied commits', () => {
  const did = 'did:plc:hearthevents0000000000'
  const keypair = Secp256k1Keypair.create()
  const blocks = new BlockMap()
  let tree = Mst.create(blocks)
  let head: { did: string; commitCid: CommitData['cid'] | null; rev: string | null } = { did, commitCid: null, rev: null }
  const rand = prng(1818)
  const live: string[] = []
  let n = 0
  let checked = 0
  const kinds = new Set<string>()
  for (let round = 0; round < 80; round++) {
    const writes: RecordWrite[] = []
    const touched = new Set<string>()
    const batch = round === 0 ? 0 : 1 + Math.floor(rand() * (round % 10 === 0 ? 40 : 4))
    for (let i = 0; i < batch; i++) {
      const r = rand()
      const text = 'x'.repeat(Math.floor(rand() * (round % 7 === 0 ? 3000 : 200)))
      const free = live.filter((k) => !touched.has(k))
      if (r < 0.6 || free.length === 0) {
        const rkey = `3k${String(n++).padStart(11, 'a')}`
        writes.push({ action: 'create', collection: rand() < 0.5 ? 'app.bsky.feed.post' : 'app.bsky.feed.like', rkey, record: { text, n } })
        touched.add(rkey)
      } else {
        const key = free[Math.floor(rand() * free.length)] as string
        const [collection, rkey] = key.split('/') as [string, string]
        touched.add(key)
        writes.push(r < 0.8 ? { action: 'update', collection, rkey, record: { text, n: n++ } } : { action: 'delete', collection, rkey })
      }
    }
    const c = buildCommit(head, tree, writes.map(prepareWrite), keypair)
    for (const op of c.ops) {
      kinds.add(op.action)
      if (op.action === 'create') live.push(op.path)
      if (op.action === 'delete') live.splice(live.indexOf(op.path), 1)
    }
    const ev = commitEvent(c)
    assert.equal(ev.eventType, 'append')
    assert.deepEqual(ev.event, genericBody(c), `round ${round}`)
    checked++
    blocks.addMap(c.newBlocks)
    c.tree.markStored()
    tree = c.tree
    head = { did, commitCid: c.cid, rev: c.rev }
  }
  assert.equal(checked, 80)
  assert.deepEqual([...kinds].sort(), ['create', 'delete', 'update'])

  // A non-ASCII path goes through the generic encoder, with the same result.
  const c = buildCommit(head, tree, [prepareWrite({ action: 'create', collection: 'app.bsky.feed.post', rkey: 'abc', record: { n: 1 } })], keypair)
  const odd = { ...c, ops: c.ops.map((op) => ({ ...op, path: `${op.path}é` })) }
  const ev = commitEvent(odd)
  assert.deepEqual(ev.event, genericBody(odd))
  assert.equal((decodeCbor(ev.event) as { ops: Array<{ path: string }> }).ops[0]?.path, 'app.bsky.feed.post/abcé')
})
