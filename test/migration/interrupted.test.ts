// A migration interrupted at any step can be resumed or rolled back without losing the account.
// Two Hearths share one PLC directory (each with its own rotation key and secrets); an account
// moves from the old to the new with the documented steps and the migration stops after each step
// in turn. Resuming (a fresh client re-running the interrupted step and the rest: createAccount
// again, importRepo again, the same blob uploaded twice, a new PLC signature) must complete with
// nothing lost. Rolling back (the user gives up) must leave the old account active and serving
// everything, with the new host's partial account inactive everywhere it is visible (listRepos,
// the firehose) and removable with deleteAccount.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startReferencePlc } from '../identity/helpers.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { emailToken, type SeqEventView, sequencedEvents } from './helpers.ts'
import {
  assertServes as assertServesOn,
  from,
  Migration,
  type Mover,
  newMover as newMoverOn,
  plcData as plcDataOf,
  type Side,
  session,
  sessions,
  snapshotRecords,
  STEPS,
  type Step,
  through,
  xrpcError,
} from './migration-client.ts'

const OLD_DID = 'did:web:old.hearth.test'
const NEW_DID = 'did:web:new.hearth.test'

let plc: { url: string; close(): Promise<void> }
let oldPds: TestPds
let newPds: TestPds
let oldSide: Side
let newSide: Side

before(async () => {
  plc = await startReferencePlc()
  const [a, b] = await Promise.all([
    startTestPds({ env: { PDS_SERVICE_DID: OLD_DID, PDS_DID_PLC_URL: plc.url } }),
    startTestPds({
      env: {
        PDS_SERVICE_DID: NEW_DID,
        PDS_DID_PLC_URL: plc.url,
        // Its own keys: the old host's rotation key must not be able to act for the new one.
        PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'b'.repeat(63) + '2',
        PDS_JWT_SECRET: 'another-jwt-secret-for-the-new-host-0123',
      },
    }),
  ])
  oldPds = a
  newPds = b
  oldSide = { url: a.url, dataDir: a.dataDir, serviceDid: OLD_DID }
  newSide = { url: b.url, dataDir: b.dataDir, serviceDid: NEW_DID }
})

after(async () => {
  await Promise.all([oldPds?.close(), newPds?.close()])
  await plc?.close()
})

const newMover = () => newMoverOn(oldSide)
const plcData = (did: string) => plcDataOf(plc.url, did)
const assertServes = (url: string, m: Mover, records: Map<string, string>) => assertServesOn(url, m, records, plc.url)

async function listRepoEntry(url: string, did: string): Promise<{ active?: boolean; status?: string } | undefined> {
  const agent = new AtpAgent({ service: url })
  const { data } = await agent.com.atproto.sync.listRepos({ limit: 1000 })
  return data.repos.find((r) => r.did === did)
}

function describeEvent(e: SeqEventView): string {
  if (e.type === '#account') return e.body.active ? '#account active' : `#account ${e.body.status}`
  return e.type
}

function newSideEvents(did: string) {
  return sequencedEvents(join(newSide.dataDir, 'sequencer.sqlite'), did)
}

const INTERRUPTIONS: Step[] = ['createAccount', 'importRepo', 'someBlobs', 'restOfBlobs', 'signPlc', 'submitPlc', 'activate']

describe('resumed after an interruption: the migration completes with nothing lost', { concurrency: true }, () => {
  for (const stop of INTERRUPTIONS) {
    test(`interrupted after ${stop}`, async () => {
      const m = await newMover()
      await new Migration(m, oldSide, newSide).runAll(through(stop))
      const oldAgent = await session(oldSide.url, m)
      if (STEPS.indexOf(stop) < STEPS.indexOf('submitPlc')) {
        // The old host is still the account's home meanwhile: the user keeps posting there, and
        // deletes their first post.
        await oldAgent.post({ text: 'posted while the migration was stuck' })
        const posts = await oldAgent.com.atproto.repo.listRecords({ repo: m.did, collection: 'app.bsky.feed.post', reverse: true })
        const first = posts.data.records.find((r) => (r.value as { text?: string }).text?.startsWith('born'))
        assert.ok(first)
        await oldAgent.com.atproto.repo.deleteRecord({ repo: m.did, collection: 'app.bsky.feed.post', rkey: first.uri.split('/').pop() as string })
      }
      const records = await snapshotRecords(oldAgent, m.did)

      // A fresh client re-runs the interrupted step and the rest. The signed PLC operation was
      // lost with the old client: after signPlc it signs again (a new token, the same prev);
      // after submitPlc it sees the DID already names the new host and goes on.
      const resume = new Migration(m, oldSide, newSide)
      const steps = from(stop)
      // The user posted on the old host meanwhile: a resuming client imports again to catch up.
      if (!steps.includes('importRepo') && steps.includes('signPlc')) steps.unshift('importRepo')
      await resume.runAll(steps)
      if (stop === 'createAccount') {
        // As the official: a second createAccount for the DID is refused; the client logs in.
        assert.deepEqual(resume.createAccountRetry, { status: 400, error: 'AlreadyExists', message: 'Repo already exists' })
      }

      await assertServes(newSide.url, m, records)
      const oldStatus = await oldAgent.com.atproto.server.checkAccountStatus()
      assert.equal(oldStatus.data.activated, false)
      const oldEntry = await listRepoEntry(oldSide.url, m.did)
      assert.equal(oldEntry?.active, false)
      assert.equal(oldEntry?.status, 'deactivated')
      assert.equal((await listRepoEntry(newSide.url, m.did))?.active, true)

      // The firehoses: the new host said nothing until the PLC operation (#identity) and the
      // activation (account, identity, sync; twice when activation was re-run), then the write.
      const activation = ['#account active', '#identity', '#sync']
      assert.deepEqual(newSideEvents(m.did).map(describeEvent), [
        '#identity',
        ...activation,
        ...(stop === 'activate' ? activation : []),
        '#commit',
      ])
      // The old host's last word is the deactivation.
      const oldEvents = sequencedEvents(join(oldSide.dataDir, 'sequencer.sqlite'), m.did).map(describeEvent)
      assert.equal(oldEvents.at(-1), '#account deactivated')
      assert.equal(oldEvents.filter((e) => e.startsWith('#account')).length, 2)
    })
  }
})

describe('rolled back after an interruption: the old account keeps everything', { concurrency: true }, () => {
  for (const stop of INTERRUPTIONS) {
    test(`abandoned after ${stop}`, async () => {
      const m = await newMover()
      const oldAgent = await session(oldSide.url, m)
      const records = await snapshotRecords(oldAgent, m.did)
      await new Migration(m, oldSide, newSide).runAll(through(stop))
      const newAgent = await session(newSide.url, m)

      if (STEPS.indexOf(stop) >= STEPS.indexOf('submitPlc')) {
        // The DID already names the new host, and only its rotation key can change it now: the
        // new host signs the way back, the old one submits it.
        const creds = await oldAgent.com.atproto.identity.getRecommendedDidCredentials()
        await newAgent.com.atproto.identity.requestPlcOperationSignature()
        const token = emailToken(newSide.dataDir, m.did, 'plc_operation')
        const signed = await newAgent.com.atproto.identity.signPlcOperation({ token, ...creds.data })
        await oldAgent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })
      }
      if (stop === 'activate') await newAgent.com.atproto.server.deactivateAccount({})

      // The old account: active, valid, everything served, writable.
      await assertServes(oldSide.url, m, records)
      assert.equal((await listRepoEntry(oldSide.url, m.did))?.active, true)

      // The new host's partial account: not active anywhere it shows.
      const status = await newAgent.com.atproto.server.checkAccountStatus()
      assert.equal(status.data.activated, false)
      assert.equal(status.data.validDid, false)
      const entry = await listRepoEntry(newSide.url, m.did)
      assert.equal(entry?.active, false)
      assert.equal(entry?.status, 'deactivated')
      const events = newSideEvents(m.did)
      if (stop === 'activate') {
        // It was announced on activation; its last word is that it is deactivated.
        const last = events.filter((e) => e.type === '#account').at(-1)
        assert.equal(last?.body.active, false)
        assert.equal(last?.body.status, 'deactivated')
      } else {
        // Never announced: nothing about it on the new host's firehose but, once the PLC
        // operation went through there, the #identity that asks relays to re-resolve the DID.
        assert.deepEqual(
          events.map((e) => e.type),
          stop === 'submitPlc' ? ['#identity'] : [],
        )
      }
      const res = await fetch(`${newSide.url}/xrpc/com.atproto.sync.getLatestCommit?did=${m.did}`)
      assert.equal(res.status, 400)
      assert.equal(((await res.json()) as { error: string }).error, 'RepoDeactivated')

      // The user deletes it; the old account is untouched.
      await newAgent.com.atproto.server.requestAccountDelete()
      const token = emailToken(newSide.dataDir, m.did, 'delete_account')
      await newAgent.com.atproto.server.deleteAccount({ did: m.did, password: m.password, token })
      sessions.delete(`${newSide.url} ${m.did}`)
      assert.equal(await listRepoEntry(newSide.url, m.did), undefined)
      // As the official: its firehose keeps only the news of the deletion for this DID.
      assert.deepEqual(
        newSideEvents(m.did).map((e) => [e.type, e.body.active, e.body.status]),
        [['#account', false, 'deleted']],
      )
      const gone = await fetch(`${newSide.url}/xrpc/com.atproto.sync.getLatestCommit?did=${m.did}`)
      assert.equal(((await gone.json()) as { error: string }).error, 'RepoNotFound')
      const oldStatus = await oldAgent.com.atproto.server.checkAccountStatus()
      assert.equal(oldStatus.data.activated, true)
      assert.equal(oldStatus.data.validDid, true)
      assert.equal((await plcData(m.did)).services.atproto_pds.endpoint, oldSide.url)

      if (stop === 'importRepo') {
        // And the migration can be tried again from scratch later.
        const now = await snapshotRecords(oldAgent, m.did)
        await new Migration(m, oldSide, newSide).runAll(STEPS)
        await assertServes(newSide.url, m, now)
      }
    })
  }
})

test('a second createAccount for a DID that is active on the host is refused as a taken handle', async () => {
  const m = await newMover()
  await new Migration(m, oldSide, newSide).runAll(STEPS)
  const newAgent = await session(newSide.url, m)
  const auth = await newAgent.com.atproto.server.getServiceAuth({ aud: NEW_DID, lxm: 'com.atproto.server.createAccount' })
  const err = await xrpcError(
    new AtpAgent({ service: newSide.url }).com.atproto.server.createAccount(
      { handle: m.handle, email: m.email, password: m.password, did: m.did },
      { headers: { authorization: `Bearer ${auth.data.token}` }, encoding: 'application/json' },
    ),
  )
  assert.equal(err.status, 400)
  assert.equal(err.message, `Handle already taken: ${m.handle}`)
})

test('importRepo cut off changes nothing; twice with the same CAR changes nothing and sequences nothing', async () => {
  const m = await newMover()
  await new Migration(m, oldSide, newSide).runAll(through('importRepo'))
  const oldAgent = await session(oldSide.url, m)
  const newAgent = await session(newSide.url, m)
  const car = new Uint8Array((await oldAgent.com.atproto.sync.getRepo({ did: m.did })).data)
  // The account is deactivated here: its records are read from its store.
  const store = newPds.hearth.services.actors.get(m.did)
  assert.ok(store)
  const rows = () => store.db.prepare('SELECT "uri", "cid" FROM "record" ORDER BY "uri"').all()
  const links = () => store.db.prepare('SELECT "blobCid", "recordUri" FROM "record_blob" ORDER BY 1, 2').all()
  const before = rows()
  const linksBefore = links()
  const statusBefore = (await newAgent.com.atproto.server.checkAccountStatus()).data
  const missingBefore = (await newAgent.com.atproto.repo.listMissingBlobs({})).data.blobs
  // An upload cut off half-way is refused whole: nothing of it is applied.
  const cut = await xrpcError(newAgent.com.atproto.repo.importRepo(car.slice(0, Math.floor(car.length / 2)), { encoding: 'application/vnd.ipld.car' }))
  assert.equal(cut.status, 400)
  assert.equal(cut.error, 'InvalidRequest')
  assert.equal((await newAgent.com.atproto.server.checkAccountStatus()).data.repoCommit, statusBefore.repoCommit)
  await newAgent.com.atproto.repo.importRepo(car, { encoding: 'application/vnd.ipld.car' })
  await newAgent.com.atproto.repo.importRepo(car, { encoding: 'application/vnd.ipld.car' })
  assert.deepEqual(rows(), before)
  assert.deepEqual(links(), linksBefore)
  assert.deepEqual(new Map((before as Array<{ uri: string; cid: string }>).map((r) => [r.uri, r.cid])), await snapshotRecords(oldAgent, m.did))
  const statusAfter = (await newAgent.com.atproto.server.checkAccountStatus()).data
  assert.equal(statusAfter.indexedRecords, statusBefore.indexedRecords)
  assert.equal(statusAfter.expectedBlobs, statusBefore.expectedBlobs)
  assert.equal(statusAfter.repoCommit === statusBefore.repoCommit, false, 're-signed under a fresh rev')
  assert.ok(statusAfter.repoRev > statusBefore.repoRev)
  assert.deepEqual((await newAgent.com.atproto.repo.listMissingBlobs({})).data.blobs, missingBefore)
  assert.deepEqual(newSideEvents(m.did).filter((e) => e.type !== '#identity'), [])
})

test('createAccount sent twice at once for a DID moving in (a client retrying): one account, an official error', async () => {
  const m = await newMover()
  const oldAgent = await session(oldSide.url, m)
  const attempt = async () => {
    const auth = await oldAgent.com.atproto.server.getServiceAuth({ aud: NEW_DID, lxm: 'com.atproto.server.createAccount' })
    const res = await fetch(`${newSide.url}/xrpc/com.atproto.server.createAccount`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auth.data.token}` },
      body: JSON.stringify({ handle: m.handle, email: m.email, password: m.password, did: m.did }),
    })
    return { status: res.status, body: (await res.json()) as { error?: string; message?: string; did?: string } }
  }
  const results = await Promise.all([attempt(), attempt()])
  const statuses = results.map((r) => r.status).sort()
  assert.deepEqual(statuses, [200, 400])
  const refused = results.find((r) => r.status === 400)
  assert.deepEqual(refused?.body, { error: 'AlreadyExists', message: 'Repo already exists' })
  assert.equal(results.find((r) => r.status === 200)?.body.did, m.did)
  // The one account works: the migration goes on from there.
  await new Migration(m, oldSide, newSide).runAll(from('importRepo'))
  assert.equal((await listRepoEntry(newSide.url, m.did))?.active, true)
})
