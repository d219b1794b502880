// Whole-repo behaviour: commits built by Hearth, exported, verified and proven — each checked by
// the reference library, and the reference's output checked by Hearth.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Secp256k1Keypair as RefKeypair } from '@atproto/crypto'
import {
  getFullRepo,
  getRecords,
  MemoryBlockstore,
  Repo as RefRepo,
  readCarWithRoot,
  verifyProofs,
  verifyRepoCar,
  WriteOpAction,
} from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { carToBytes, readCar } from '../../src/repo/car/index.ts'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor } from '../../src/repo/cid.ts'
import { buildCommit, prepareWrite, type RecordWrite, WriteConflictError } from '../../src/repo/commit-builder.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { repoBlocks } from '../../src/repo/export.ts'
import { checkInversion } from '../../src/repo/inversion.ts'
import { Mst } from '../../src/repo/mst/index.ts'
import { recordProofBlocks, RecordProofError, verifyRecordProof } from '../../src/repo/record-proof.ts'
import { RepoVerificationError, verifyRepo } from '../../src/repo/verify.ts'
import { fromRefCid, prng, toRefCid } from '../helpers/reference.ts'

const DID = 'did:plc:hearthtestrepo00000000000'

/** A minimal in-memory repo store, as the actor store will be on SQLite. */
class MemRepo {
  blocks = new BlockMap()
  commitCid: Cid | null = null
  rev: string | null = null
  tree: Mst
  constructor(readonly keypair: Secp256k1Keypair) {
    this.tree = Mst.create(this.blocks)
  }
  write(writes: RecordWrite[]) {
    const c = buildCommit({ did: DID, commitCid: this.commitCid, rev: this.rev }, this.tree, writes.map(prepareWrite), this.keypair)
    this.blocks.addMap(c.newBlocks)
    for (const cid of c.removedCids) this.blocks.delete(cid)
    c.tree.markStored()
    this.tree = c.tree
    this.commitCid = c.cid
    this.rev = c.rev
    return c
  }
}

function post(n: number) {
  return { $type: 'app.bsky.feed.post', text: `post number ${n}`, createdAt: new Date(1_700_000_000_000 + n).toISOString() }
}

test('repo: every commit carries blocks that invert it, and the export verifies with @atproto/repo', async () => {
  const keypair = Secp256k1Keypair.create()
  const repo = new MemRepo(keypair)
  const first = repo.write([])
  assert.equal(first.prevData, null)
  assert.equal(first.since, null)
  const rand = prng(21)
  const live: string[] = []
  let n = 0
  for (let round = 0; round < 60; round++) {
    const writes: RecordWrite[] = []
    const touched = new Set<string>()
    const batch = 1 + Math.floor(rand() * 5)
    for (let i = 0; i < batch; i++) {
      const r = rand()
      if (live.length < 5 || r < 0.6) {
        const rkey = `3k${(100000 + n).toString(36)}aaaa`
        n++
        writes.push({ action: 'create', collection: 'app.bsky.feed.post', rkey, record: post(n) })
        live.push(rkey)
        touched.add(rkey)
      } else {
        const rkey = live[Math.floor(rand() * live.length)]
        if (touched.has(rkey)) continue
        touched.add(rkey)
        if (r < 0.8) writes.push({ action: 'update', collection: 'app.bsky.feed.post', rkey, record: post(-n - i) })
        else {
          writes.push({ action: 'delete', collection: 'app.bsky.feed.post', rkey })
          live.splice(live.indexOf(rkey), 1)
        }
      }
    }
    const c = repo.write(writes)
    assert.ok(c.prevData)
    checkInversion(c.relevantBlocks, c.data, c.ops, c.prevData)
    // The event's blocks as a CAR are readable by the reference too.
    const { root } = await readCarWithRoot(carToBytes(c.cid, c.relevantBlocks))
    assert.equal(root.toString(), c.cid.$link)
  }
  const car = carToBytes(repo.commitCid, repoBlocks(repo.blocks, repo.commitCid as Cid))
  const verified = await verifyRepoCar(car, DID, keypair.did())
  assert.equal(verified.creates.length, live.length)
  // And Hearth's own verifier agrees.
  const ours = verifyRepo(readCar(car).blocks, repo.commitCid as Cid, { did: DID, signingKey: keypair.did() })
  assert.deepEqual(
    ours.records.map((r) => r.key),
    live.map((k) => `app.bsky.feed.post/${k}`).sort(),
  )
})

test('repo: a repo written by @atproto/repo is read and verified by Hearth', async () => {
  const refKey = await RefKeypair.create({ exportable: true })
  const storage = new MemoryBlockstore()
  let repo = await RefRepo.create(storage, DID, refKey)
  const rkeys: string[] = []
  for (let i = 0; i < 120; i++) {
    const rkey = `3l${(200000 + i).toString(36)}bbbb`
    rkeys.push(rkey)
    repo = await repo.applyWrites(
      { action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey, record: post(i) },
      refKey,
    )
  }
  repo = await repo.applyWrites(
    { action: WriteOpAction.Delete, collection: 'app.bsky.feed.post', rkey: rkeys[7] },
    refKey,
  )
  const chunks: Uint8Array[] = []
  for await (const chunk of getFullRepo(storage, repo.cid)) chunks.push(chunk)
  const car = Buffer.concat(chunks)
  const { root, blocks } = readCar(car)
  assert.equal(root?.$link, repo.cid.toString())
  const verified = verifyRepo(blocks, root as Cid, { did: DID, signingKey: refKey.did() })
  assert.equal(verified.records.length, 119)
  assert.equal(verified.commit.rev, repo.commit.rev)
  // A Hearth keypair imported from the same secret continues the repo with the same key.
  const keypair = Secp256k1Keypair.import(await refKey.export())
  assert.equal(keypair.did(), refKey.did())
  const tree = Mst.load(blocks, verified.commit.data)
  const c = buildCommit(
    { did: DID, commitCid: root, rev: verified.commit.rev },
    tree,
    [prepareWrite({ action: 'create', collection: 'app.bsky.feed.like', rkey: '3lzzzzzzzzzzz', record: { $type: 'app.bsky.feed.like' } })],
    keypair,
  )
  assert.ok(c.rev > verified.commit.rev)
  blocks.addMap(c.newBlocks)
  const next = await verifyRepoCar(carToBytes(c.cid, repoBlocks(blocks, c.cid)), DID, refKey.did())
  assert.equal(next.creates.length, 120)
})

test('repo: record proofs from each implementation are accepted by the other, present and absent', async () => {
  const keypair = Secp256k1Keypair.create()
  const repo = new MemRepo(keypair)
  repo.write([])
  const rkeys = Array.from({ length: 80 }, (_, i) => `3m${(300000 + i).toString(36)}cccc`)
  repo.write(rkeys.map((rkey, i) => ({ action: 'create' as const, collection: 'app.bsky.feed.post', rkey, record: post(i) })))
  const commitCid = repo.commitCid as Cid
  for (const rkey of [...rkeys.slice(0, 10), '3mabsentabsen']) {
    const key = `app.bsky.feed.post/${rkey}`
    const proof = recordProofBlocks(repo.blocks, commitCid, key)
    const expected = repo.tree.get(key)
    assert.equal(verifyRecordProof(proof, commitCid, DID, keypair.did(), key)?.$link, expected?.$link)
    const car = carToBytes(commitCid, proof)
    const claims = [{ collection: 'app.bsky.feed.post', rkey, cid: expected ? toRefCid(expected) : null }]
    const res = await verifyProofs(car, claims, DID, keypair.did())
    assert.equal(res.verified.length, 1, key)
    assert.equal(res.unverified.length, 0)
  }
  // A wrong key or a stripped proof is refused.
  const key = `app.bsky.feed.post/${rkeys[3]}`
  const proof = recordProofBlocks(repo.blocks, commitCid, key)
  assert.throws(() => verifyRecordProof(proof, commitCid, DID, Secp256k1Keypair.create().did(), key), RecordProofError)
  const stripped = new BlockMap().set(commitCid, proof.get(commitCid) as Uint8Array)
  assert.throws(() => verifyRecordProof(stripped, commitCid, DID, keypair.did(), key), RecordProofError)

  // The reference's proofs, checked by Hearth.
  const refKey = await RefKeypair.create({ exportable: true })
  const storage = new MemoryBlockstore()
  const refRepo = await RefRepo.create(
    storage,
    DID,
    refKey,
    rkeys.map((rkey, i) => ({ action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey, record: post(i) })),
  )
  for (const rkey of [rkeys[5], rkeys[50], '3mabsentabsen']) {
    const chunks: Uint8Array[] = []
    for await (const c of getRecords(storage, refRepo.cid, [{ collection: 'app.bsky.feed.post', rkey }])) chunks.push(c)
    const { root, blocks } = readCar(Buffer.concat(chunks))
    const got = verifyRecordProof(blocks, root as Cid, DID, refKey.did(), `app.bsky.feed.post/${rkey}`)
    const want = await refRepo.data.get(`app.bsky.feed.post/${rkey}`)
    assert.equal(got?.$link ?? null, want ? fromRefCid(want).$link : null)
  }
})

test('repo: conflicting writes are refused and leave the repo untouched', () => {
  const repo = new MemRepo(Secp256k1Keypair.create())
  repo.write([])
  repo.write([{ action: 'create', collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaaaa', record: post(1) }])
  const before = repo.tree.rootCid().$link
  assert.throws(
    () => repo.write([{ action: 'create', collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaaaa', record: post(2) }]),
    WriteConflictError,
  )
  assert.throws(
    () =>
      repo.write([
        { action: 'create', collection: 'app.bsky.feed.post', rkey: '3kbbbbbbbbbbb', record: post(3) },
        { action: 'delete', collection: 'app.bsky.feed.post', rkey: '3kzzzzzzzzzzz' },
      ]),
    WriteConflictError,
  )
  assert.equal(repo.tree.rootCid().$link, before)
  assert.equal(repo.tree.get('app.bsky.feed.post/3kbbbbbbbbbbb'), null)
})

test('repo verification rejects bad signatures, missing and tampered blocks, and wrong DIDs', async () => {
  const keypair = Secp256k1Keypair.create()
  const repo = new MemRepo(keypair)
  repo.write([])
  repo.write(
    Array.from({ length: 30 }, (_, i) => ({ action: 'create' as const, collection: 'app.bsky.feed.post', rkey: `3n${(400000 + i).toString(36)}dddd`, record: post(i) })),
  )
  const commitCid = repo.commitCid as Cid
  const good = () => new BlockMap().addMap(repo.blocks)
  assert.equal(verifyRepo(good(), commitCid, { did: DID, signingKey: keypair.did() }).records.length, 30)
  assert.throws(() => verifyRepo(good(), commitCid, { signingKey: Secp256k1Keypair.create().did() }), /signature/)
  assert.throws(() => verifyRepo(good(), commitCid, { did: 'did:plc:someoneelse' }), RepoVerificationError)
  const [recordKey, recordCid] = [...repo.tree.entries()].map((e) => [e.key, e.value] as const)[4]
  const missing = good()
  missing.delete(recordCid)
  assert.throws(() => verifyRepo(missing, commitCid), new RegExp(`missing record ${recordKey.replace('.', '\\.')}`))
  const tampered = good()
  tampered.set(recordCid, encodeCbor({ text: 'not what was signed' }))
  assert.throws(() => verifyRepo(tampered, commitCid), /does not match its CID/)
  // An MST root that is not a valid node.
  const bogusRoot = encodeCbor({ e: [], l: null, x: 1 })
  const bogus = new BlockMap().set(cidForCbor(bogusRoot), bogusRoot)
  const commit = buildCommit({ did: DID, commitCid: null, rev: null }, Mst.create(bogus), [], keypair)
  bogus.addMap(commit.newBlocks)
  // Point a commit at the bogus node by re-signing with data replaced.
  const { signCommit, encodeCommit } = await import('../../src/repo/commit.ts')
  const forged = encodeCommit(signCommit({ did: DID, version: 3, data: cidForCbor(bogusRoot), rev: commit.rev, prev: null }, keypair))
  bogus.set(forged.cid, forged.bytes)
  assert.throws(() => verifyRepo(bogus, forged.cid), RepoVerificationError)
})

