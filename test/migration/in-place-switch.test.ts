// The in-place switch: the official PDS 0.4.217 runs on a data directory, stops, and Hearth
// starts on the same directory with the same environment. Everything its users had must still be
// there, byte for byte: logins (passwords and app passwords), records with the same CIDs, blobs,
// a repo that verifies, and a firehose that carries on from the official's last seq.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import { loadConfig } from '../../src/config/index.ts'
import { type Hearth, startServer } from '../../src/server.ts'
import { Consumer } from '../firehose/helpers.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { type OfficialPds, startOfficialPds } from '../helpers/official-pds.ts'
import { pngBytes } from './helpers.ts'
import { snapshotRecords } from './migration-client.ts'

interface Snapshot {
  did: string
  handle: string
  password: string
  records: Map<string, string>
  blobs: Map<string, Uint8Array>
}

let plc: { url: string; close(): Promise<void> }
let dataDir: string
let official: OfficialPds
let hearth: Hearth
let lastOfficialSeq = -1
let alice: Snapshot
let bob: Snapshot
let appPassword = ''


before(async () => {
  plc = await startReferencePlc()
  dataDir = mkdtempSync(join(tmpdir(), 'hearth-switch-'))
  official = await startOfficialPds({ dataDir, plcUrl: plc.url.replace('127.0.0.1', 'localhost') })

  const a = new AtpAgent({ service: official.url })
  await a.createAccount({ handle: 'alice.test', email: 'alice@example.com', password: 'alice-password' })
  const b = new AtpAgent({ service: official.url })
  await b.createAccount({ handle: 'bob.test', email: 'bob@example.com', password: 'bob-password' })
  const aliceDid = a.session?.did as string
  const bobDid = b.session?.did as string

  await a.post({ text: 'first post on the official PDS' })
  const blobs = new Map<string, Uint8Array>()
  const images = []
  for (const png of [pngBytes(1), pngBytes(2)]) {
    const up = await a.uploadBlob(png, { encoding: 'image/png' })
    blobs.set(up.data.blob.ref.toString(), png)
    images.push({ image: up.data.blob, alt: 'a pixel' })
  }
  const withImages = await a.post({ text: 'with pictures', embed: { $type: 'app.bsky.embed.images', images } })
  await a.upsertProfile((p) => ({ ...p, displayName: 'Alice' }))
  await b.follow(aliceDid)
  await b.like(withImages.uri, withImages.cid)
  await b.post({ text: 'bob says hi' })
  appPassword = (await a.com.atproto.server.createAppPassword({ name: 'switch-test' })).data.password

  alice = { did: aliceDid, handle: 'alice.test', password: 'alice-password', records: await snapshotRecords(a, aliceDid), blobs }
  bob = { did: bobDid, handle: 'bob.test', password: 'bob-password', records: await snapshotRecords(b, bobDid), blobs: new Map() }

  const replay = new Consumer(official.url, '?cursor=0')
  await replay.opened
  await replay.until(() => replay.events().some((f) => f.body.repo === bobDid && f.header.t === '#commit' && f.body.ops?.some((o: { path: string }) => o.path.startsWith('app.bsky.feed.post/'))), 20_000, 'the official backlog')
  await new Promise((r) => setTimeout(r, 300))
  lastOfficialSeq = replay.lastSeq()
  replay.close()

  await official.stop()
  // The same directory and environment, the same port (the DID documents name it).
  hearth = await startServer(loadConfig({ ...official.env, HEARTH_VALIDATE_RESPONSES: 'true' }, { dotenv: false }))
})

after(async () => {
  await hearth?.close()
  await official?.stop()
  await plc?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

test('the same passwords and app password log in on Hearth', async () => {
  for (const who of [alice, bob]) {
    const agent = new AtpAgent({ service: hearth.url })
    await agent.login({ identifier: who.handle, password: who.password })
    assert.equal(agent.session?.did, who.did)
  }
  const viaApp = new AtpAgent({ service: hearth.url })
  await viaApp.login({ identifier: alice.did, password: appPassword })
  assert.equal(viaApp.session?.did, alice.did)
  const wrong = new AtpAgent({ service: hearth.url })
  await assert.rejects(wrong.login({ identifier: alice.handle, password: 'not-the-password' }))
})

test('records keep their CIDs (getRecord, listRecords)', async () => {
  const agent = new AtpAgent({ service: hearth.url })
  for (const who of [alice, bob]) {
    assert.ok(who.records.size >= 2)
    assert.deepEqual(await snapshotRecords(agent, who.did), who.records)
    for (const [uri, cid] of who.records) {
      const [, , , collection, rkey] = uri.split('/')
      const got = await agent.com.atproto.repo.getRecord({ repo: who.did, collection, rkey })
      assert.equal(got.data.cid, cid)
    }
  }
})

test('blobs serve the same bytes', async () => {
  const agent = new AtpAgent({ service: hearth.url })
  assert.equal(alice.blobs.size, 2)
  for (const [cid, bytes] of alice.blobs) {
    const got = await agent.com.atproto.sync.getBlob({ did: alice.did, cid })
    assert.deepEqual(new Uint8Array(got.data), bytes)
  }
})

test('the repo export verifies with @atproto/repo against the DID document key', async () => {
  const agent = new AtpAgent({ service: hearth.url })
  for (const who of [alice, bob]) {
    const car = await agent.com.atproto.sync.getRepo({ did: who.did })
    const { root, blocks } = await readCarWithRoot(new Uint8Array(car.data))
    const data = (await (await fetch(`${plc.url}/${who.did}/data`)).json()) as { verificationMethods: { atproto: string } }
    const signingKey = data.verificationMethods.atproto
    const verified = await verifyRepo(blocks, root, who.did, signingKey)
    assert.equal(verified.creates.length, who.records.size)
  }
})

test('a new post works and the firehose continues at the official seq + 1', async () => {
  assert.ok(lastOfficialSeq > 0)
  const live = new Consumer(hearth.url, `?cursor=${lastOfficialSeq}`)
  await live.opened
  const agent = new AtpAgent({ service: hearth.url })
  await agent.login({ identifier: alice.handle, password: alice.password })
  const post = await agent.post({ text: 'first post on Hearth' })
  await live.until(() => live.events().some((f) => f.body.ops?.some((o: { path: string }) => post.uri.endsWith(o.path))), 10_000, 'the new commit')
  const events = live.events()
  assert.equal(events[0].body.seq, lastOfficialSeq + 1)
  assert.equal(events[0].header.t, '#commit')
  assert.equal(events[0].body.repo, alice.did)
  live.close()
  const got = await agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: post.uri.split('/').pop() as string })
  assert.equal(got.data.cid, post.cid)
})
