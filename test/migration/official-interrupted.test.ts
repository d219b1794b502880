// Interrupted migrations between the official PDS 0.5.35 and Hearth (one shared PLC directory):
// a retried createAccount gets the same answer from both, a migration off the official resumed by
// a fresh client completes, and one abandoned after the PLC operation rolls back to the official
// with Hearth's partial account deleted. (Every interruption point is covered Hearth → Hearth in
// interrupted.test.ts.)
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { type OfficialPds, officialUnavailable, startOfficialPds } from '../helpers/official-pds.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { emailToken, sequencedEvents } from './helpers.ts'
import { assertServes, from, Migration, newMover, plcData, type Side, session, sessions, snapshotRecords, through } from './migration-client.ts'

const OFFICIAL_DID = 'did:web:official.interrupted.test'
const HEARTH_DID = 'did:web:hearth.interrupted.test'

let plc: { url: string; close(): Promise<void> }
let plcUrl: string
let dataDir: string
let official: OfficialPds
let hearth: TestPds
let officialSide: Side
let hearthSide: Side

before(async () => {
  if (officialUnavailable) return
  plc = await startReferencePlc()
  plcUrl = plc.url.replace('127.0.0.1', 'localhost')
  dataDir = mkdtempSync(join(tmpdir(), 'mig-interrupted-'))
  const [o, h] = await Promise.all([
    startOfficialPds({ dataDir, plcUrl, env: { PDS_SERVICE_DID: OFFICIAL_DID } }),
    startTestPds({ env: { PDS_SERVICE_DID: HEARTH_DID, PDS_DID_PLC_URL: plcUrl } }),
  ])
  official = o
  hearth = h
  officialSide = { url: o.url, dataDir: o.dataDir, serviceDid: OFFICIAL_DID }
  hearthSide = { url: h.url, dataDir: h.dataDir, serviceDid: HEARTH_DID }
})

after(async () => {
  await Promise.all([official?.stop(), hearth?.close()])
  await plc?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

async function listRepoEntry(url: string, did: string): Promise<{ active?: boolean; status?: string } | undefined> {
  const { data } = await new AtpAgent({ service: url }).com.atproto.sync.listRepos({ limit: 1000 })
  return data.repos.find((r) => r.did === did)
}

test('createAccount retried for a DID already moving in: the official and Hearth answer alike', { skip: officialUnavailable }, async () => {
  const toOfficial = await newMover(hearthSide, 'toofficial')
  const toHearth = await newMover(officialSide, 'tohearth')
  const retries = []
  for (const [m, fromSide, toSide] of [
    [toOfficial, hearthSide, officialSide],
    [toHearth, officialSide, hearthSide],
  ] as const) {
    await new Migration(m, fromSide, toSide).run('createAccount')
    const again = new Migration(m, fromSide, toSide)
    await again.run('createAccount')
    retries.push(again.createAccountRetry)
    // The partial account is listed, inactive, on both.
    const entry = await listRepoEntry(toSide.url, m.did)
    assert.equal(entry?.active, false)
    assert.equal(entry?.status, 'deactivated')
  }
  assert.deepEqual(retries[0], { status: 400, error: 'AlreadyExists', message: 'Repo already exists' })
  assert.deepEqual(retries[1], retries[0])
})

test('official → Hearth interrupted after some blobs, resumed by a fresh client: everything arrives', { skip: officialUnavailable }, async () => {
  const m = await newMover(officialSide, 'resumed')
  await new Migration(m, officialSide, hearthSide).runAll(through('someBlobs'))
  const oldAgent = await session(official.url, m)
  await oldAgent.post({ text: 'posted on the official while the migration was stuck' })
  const records = await snapshotRecords(oldAgent, m.did)

  // The fresh client starts over: createAccount (already there: it logs in), the import again
  // (now with the new post), the same blob again, then the rest.
  const resume = new Migration(m, officialSide, hearthSide)
  await resume.runAll(['createAccount', 'importRepo', ...from('someBlobs')])
  assert.equal(resume.createAccountRetry?.error, 'AlreadyExists')
  await assertServes(hearth.url, m, records, plcUrl)
  const oldStatus = await oldAgent.com.atproto.server.checkAccountStatus()
  assert.equal(oldStatus.data.activated, false)
  const events = sequencedEvents(join(hearth.dataDir, 'sequencer.sqlite'), m.did).map((e) => e.type)
  assert.deepEqual(events, ['#identity', '#account', '#identity', '#sync', '#commit'])
})

test('official → Hearth abandoned after the PLC operation: rolled back to the official, Hearth\'s copy deleted', { skip: officialUnavailable }, async () => {
  const m = await newMover(officialSide, 'rolledback')
  await new Migration(m, officialSide, hearthSide).runAll(through('submitPlc'))
  const oldAgent = await session(official.url, m)
  const newAgent = await session(hearth.url, m)
  assert.equal((await plcData(plcUrl, m.did)).services.atproto_pds.endpoint, hearth.url)

  // Only Hearth's rotation key can change the DID now: Hearth signs the way back.
  const creds = await oldAgent.com.atproto.identity.getRecommendedDidCredentials()
  await newAgent.com.atproto.identity.requestPlcOperationSignature()
  const signed = await newAgent.com.atproto.identity.signPlcOperation({ token: emailToken(hearth.dataDir, m.did, 'plc_operation'), ...creds.data })
  await oldAgent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })

  await assertServes(official.url, m, await snapshotRecords(oldAgent, m.did), plcUrl)
  const entry = await listRepoEntry(hearth.url, m.did)
  assert.equal(entry?.active, false)
  const status = await newAgent.com.atproto.server.checkAccountStatus()
  assert.equal(status.data.activated, false)
  assert.equal(status.data.validDid, false)

  await newAgent.com.atproto.server.requestAccountDelete()
  await newAgent.com.atproto.server.deleteAccount({ did: m.did, password: m.password, token: emailToken(hearth.dataDir, m.did, 'delete_account') })
  sessions.delete(`${hearth.url} ${m.did}`)
  assert.equal(await listRepoEntry(hearth.url, m.did), undefined)
  const events = sequencedEvents(join(hearth.dataDir, 'sequencer.sqlite'), m.did)
  assert.deepEqual(
    events.map((e) => [e.type, e.body.active, e.body.status]),
    [['#account', false, 'deleted']],
  )
  const oldStatus = await oldAgent.com.atproto.server.checkAccountStatus()
  assert.equal(oldStatus.data.activated, true)
  assert.equal(oldStatus.data.validDid, true)
})
