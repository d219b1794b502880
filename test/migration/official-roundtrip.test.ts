// Account migration with the official client library, following the documented steps
// (atproto.com "Account Migration"; bluesky-social/pds ACCOUNT_MIGRATION.md): an account moves
// from an official PDS 0.5.35 to Hearth, then from Hearth to another official 0.5.35. Each hop:
// service auth from the old host, createAccount with the DID on the new one, importRepo, the
// missing blobs, preferences, a PLC operation signed by the old host (emailed token) and submitted
// by the new, activation on the new, deactivation on the old. After each hop the account's
// records, blobs, logins and writes work on its new host.
//
// The preferences carry a birth date: both servers serve a read-only declaredAgePref derived from
// it after the stored ones and drop it from a put, so the list a client copies over (derived
// entry included) arrives as the same list, and no host stores the derived entry.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import { Consumer } from '../firehose/helpers.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { type OfficialPds, officialUnavailable, startOfficialPds } from '../helpers/official-pds.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { pngBytes, type SeqEventView, sequencedEvents } from './helpers.ts'
import { snapshotRecords } from './migration-client.ts'
import { createHash } from 'node:crypto'
import { openDb } from '../../src/storage/sqlite.ts'

const HEARTH_DID = 'did:web:hearth.test'
const FIRST_DID = 'did:web:first.official.test'
const SECOND_DID = 'did:web:second.official.test'
const HANDLE = 'mover.test'
const PASSWORD = 'mover-password'
const EMAIL = 'mover@example.com'

let plc: { url: string; close(): Promise<void> }
let plcUrl: string
const dirs: string[] = []
let first: OfficialPds
let second: OfficialPds
let hearth: TestPds
let did = ''
/** uri -> cid of every record, as on the first host. */
let records = new Map<string, string>()
/** blob cid -> bytes. */
const blobs = new Map<string, Uint8Array>()
let preferences: unknown[] = []

const ADULT_CONTENT = { $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }
/** 16 years and about ten months old: over 13 and 16, not 18. */
const BIRTH_DATE = (() => {
  const d = new Date()
  d.setUTCHours(12, 0, 0, 0)
  d.setUTCFullYear(d.getUTCFullYear() - 17)
  d.setUTCDate(d.getUTCDate() + 60)
  return d.toISOString()
})()
const PERSONAL_DETAILS = { $type: 'app.bsky.actor.defs#personalDetailsPref', birthDate: BIRTH_DATE }
const DECLARED_AGE = { $type: 'app.bsky.actor.defs#declaredAgePref', isOverAge13: true, isOverAge16: true, isOverAge18: false }
/** What a password session is served, on every host: the stored ones, then the derived one. */
const SERVED_FULL = [ADULT_CONTENT, PERSONAL_DETAILS, DECLARED_AGE]
/** An app-password session: no personal details, but the age derived from them. */
const SERVED_APP_PASSWORD = [ADULT_CONTENT, DECLARED_AGE]
/** What each host keeps in account_pref (name, value): never the derived entry. */
const STORED = [ADULT_CONTENT, PERSONAL_DETAILS].map((p) => ({ name: p.$type, value: p }))

/** The account's preference rows in a host's actor store (official and Hearth share the layout). */
function storedPreferences(dataDir: string): Array<{ name: string; value: unknown }> {
  const hash = createHash('sha256').update(did).digest('hex')
  const db = openDb(join(dataDir, 'actors', hash.slice(0, 2), did, 'store.sqlite'), { readonly: true })
  try {
    const rows = db.prepare(`SELECT "name", "valueJson" FROM "account_pref" ORDER BY "id"`).all() as Array<{ name: string; valueJson: string }>
    return rows.map((r) => ({ name: r.name, value: JSON.parse(r.valueJson) as unknown }))
  } finally {
    db.close()
  }
}

/** The preferences an app-password session on `url` is served. */
async function appPasswordPreferences(url: string): Promise<unknown[]> {
  const agent = await login(url)
  const app = await agent.com.atproto.server.createAppPassword({ name: `prefs-${Date.now()}` })
  const viaApp = new AtpAgent({ service: url })
  await viaApp.login({ identifier: did, password: app.data.password })
  return (await viaApp.app.bsky.actor.getPreferences()).data.preferences
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** The PLC token the old host "emailed": read from its account.sqlite (same table on both). */
function plcToken(dataDir: string, forDid: string): string {
  const db = openDb(join(dataDir, 'account.sqlite'), { readonly: true })
  try {
    const row = db.prepare(`SELECT "token" FROM "email_token" WHERE "did" = ? AND "purpose" = 'plc_operation'`).get(forDid) as
      | { token: string }
      | undefined
    assert.ok(row, 'no plc_operation token was issued')
    return row.token
  } finally {
    db.close()
  }
}

async function login(url: string): Promise<AtpAgent> {
  const agent = new AtpAgent({ service: url })
  await agent.login({ identifier: did, password: PASSWORD })
  return agent
}


/** The documented migration from `oldUrl` to `newUrl` (whose service DID is `newDid`). */
async function migrate(oldUrl: string, oldDataDir: string, newUrl: string, newDid: string): Promise<{ oldAgent: AtpAgent; newAgent: AtpAgent }> {
  const oldAgent = await login(oldUrl)
  // 1. An account on the new host for the same DID, authorized by the old host.
  const serviceAuth = await oldAgent.com.atproto.server.getServiceAuth({ aud: newDid, lxm: 'com.atproto.server.createAccount' })
  const newAgent = new AtpAgent({ service: newUrl })
  await newAgent.com.atproto.server.createAccount(
    { handle: HANDLE, email: EMAIL, password: PASSWORD, did },
    { headers: { authorization: `Bearer ${serviceAuth.data.token}` }, encoding: 'application/json' },
  )
  await newAgent.login({ identifier: did, password: PASSWORD })
  const status0 = await newAgent.com.atproto.server.checkAccountStatus()
  assert.equal(status0.data.activated, false)

  // 2. The repo, then the blobs its records reference, then the preferences.
  const car = await oldAgent.com.atproto.sync.getRepo({ did })
  await newAgent.com.atproto.repo.importRepo(new Uint8Array(car.data), { encoding: 'application/vnd.ipld.car' })
  let cursor: string | undefined
  let copied = 0
  do {
    const missing = await newAgent.com.atproto.repo.listMissingBlobs({ cursor, limit: 1 })
    for (const b of missing.data.blobs) {
      const got = await oldAgent.com.atproto.sync.getBlob({ did, cid: b.cid })
      await newAgent.com.atproto.repo.uploadBlob(new Uint8Array(got.data), { encoding: got.headers['content-type'] })
      copied++
    }
    cursor = missing.data.cursor
  } while (cursor)
  assert.equal(copied, blobs.size)
  // As clients copy them: the whole list served, the derived declaredAgePref included.
  const prefs = await oldAgent.app.bsky.actor.getPreferences()
  assert.deepEqual(prefs.data.preferences, SERVED_FULL)
  await newAgent.app.bsky.actor.putPreferences({ preferences: prefs.data.preferences })

  // 3. The identity: the new host's credentials, signed by the old host, submitted by the new.
  const creds = await newAgent.com.atproto.identity.getRecommendedDidCredentials()
  await oldAgent.com.atproto.identity.requestPlcOperationSignature()
  const signed = await oldAgent.com.atproto.identity.signPlcOperation({ token: plcToken(oldDataDir, did), ...creds.data })
  await newAgent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })

  // 4. Switch over.
  await newAgent.com.atproto.server.activateAccount()
  await oldAgent.com.atproto.server.deactivateAccount({})
  return { oldAgent, newAgent }
}

/** What every hop must preserve, checked on the account's new host. */
async function assertArrived(url: string, dataDir: string, opts: { resigned?: boolean } = {}): Promise<void> {
  const agent = await login(url)
  const status = await agent.com.atproto.server.checkAccountStatus()
  assert.equal(status.data.activated, true)
  assert.equal(status.data.validDid, true)
  assert.equal(status.data.indexedRecords, records.size)
  assert.equal(status.data.expectedBlobs, blobs.size)
  assert.equal(status.data.importedBlobs, blobs.size)
  assert.deepEqual(await snapshotRecords(agent, did), records)
  for (const [cid, bytes] of blobs) {
    const got = await agent.com.atproto.sync.getBlob({ did, cid })
    assert.deepEqual(new Uint8Array(got.data), bytes)
  }
  const prefs = await agent.app.bsky.actor.getPreferences()
  assert.deepEqual(prefs.data.preferences, preferences)
  assert.deepEqual(storedPreferences(dataDir), STORED)
  assert.deepEqual(await appPasswordPreferences(url), SERVED_APP_PASSWORD)
  const data = (await (await fetch(`${plcUrl}/${did}/data`)).json()) as {
    services: { atproto_pds: { endpoint: string } }
    verificationMethods: { atproto: string }
  }
  assert.equal(data.services.atproto_pds.endpoint, url)
  if (opts.resigned) {
    // Hearth re-signs an import with its own key: the repo verifies against the new DID
    // document before any new write (the official serves the old host's commit until then).
    const before = await agent.com.atproto.sync.getRepo({ did })
    const car = await readCarWithRoot(new Uint8Array(before.data))
    const ok = await verifyRepo(car.blocks, car.root, did, data.verificationMethods.atproto)
    assert.equal(ok.creates.length, records.size)
  }
  // A write on the new host, and the repo verifies against the DID's new key after it.
  const post = await agent.post({ text: `hello from ${url}` })
  const carRes = await agent.com.atproto.sync.getRepo({ did })
  const { root, blocks } = await readCarWithRoot(new Uint8Array(carRes.data))
  const verified = await verifyRepo(blocks, root, did, data.verificationMethods.atproto)
  assert.ok(verified.creates.some((c) => post.uri.endsWith(`${c.collection}/${c.rkey}`)))
  records = await snapshotRecords(agent, did)
}

/** What a host's firehose said about the migrating DID, in order: #account events with their status. */
function told(dataDir: string): string[] {
  return sequencedEvents(join(dataDir, 'sequencer.sqlite'), did).map(describeEvent)
}

function describeEvent(e: SeqEventView): string {
  if (e.type === '#account') return e.body.active ? '#account active' : `#account ${e.body.status}`
  return e.type
}

/** The repo status a host reports for the DID to anyone (what relays check). */
async function repoStatus(url: string): Promise<{ active: boolean; status?: string; rev?: string }> {
  const res = await fetch(`${url}/xrpc/com.atproto.sync.getRepoStatus?did=${did}`)
  assert.equal(res.status, 200)
  return (await res.json()) as { active: boolean; status?: string; rev?: string }
}

/** Events of one PLC submission + activation on the new host: the official's order. */
const ARRIVAL = ['#identity', '#account active', '#identity', '#sync']

before(async () => {
  if (officialUnavailable) return
  plc = await startReferencePlc()
  plcUrl = plc.url.replace('127.0.0.1', 'localhost')
  const [a, b, h] = await Promise.all([
    startOfficialPds({ dataDir: tempDir('mig-first-'), plcUrl, env: { PDS_SERVICE_DID: FIRST_DID } }),
    startOfficialPds({ dataDir: tempDir('mig-second-'), plcUrl, env: { PDS_SERVICE_DID: SECOND_DID } }),
    startTestPds({ env: { PDS_SERVICE_DID: HEARTH_DID, PDS_DID_PLC_URL: plcUrl } }),
  ])
  first = a
  second = b
  hearth = h

  const agent = new AtpAgent({ service: first.url })
  await agent.createAccount({ handle: HANDLE, email: EMAIL, password: PASSWORD })
  did = agent.session?.did as string
  await agent.post({ text: 'born on the official PDS' })
  const images = []
  for (const png of [pngBytes(21), pngBytes(22), pngBytes(23)]) {
    const up = await agent.uploadBlob(png, { encoding: 'image/png' })
    blobs.set(up.data.blob.ref.toString(), png)
    images.push({ image: up.data.blob, alt: 'pixel' })
  }
  await agent.post({ text: 'pictures', embed: { $type: 'app.bsky.embed.images', images } })
  await agent.upsertProfile((p) => ({ ...p, displayName: 'Mover' }))
  await agent.app.bsky.actor.putPreferences({ preferences: [ADULT_CONTENT, PERSONAL_DETAILS] })
  preferences = (await agent.app.bsky.actor.getPreferences()).data.preferences
  // The official 0.5.35's own behaviour, which every later host must match.
  assert.deepEqual(preferences, SERVED_FULL)
  assert.deepEqual(storedPreferences(first.dataDir), STORED)
  assert.deepEqual(await appPasswordPreferences(first.url), SERVED_APP_PASSWORD)
  records = await snapshotRecords(agent, did)
})

after(async () => {
  await Promise.all([first?.stop(), second?.stop(), hearth?.close()])
  await plc?.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

test('official → Hearth: the documented migration steps succeed and everything arrives', { skip: officialUnavailable }, async () => {
  assert.ok(records.size >= 3)
  const { oldAgent, newAgent } = await migrate(first.url, first.dataDir, hearth.url, HEARTH_DID)
  // The import sequenced nothing; activation announced the account and its repo (#sync at the
  // imported head), as the official does.
  const status = await newAgent.com.atproto.server.checkAccountStatus()
  const firehose = new Consumer(hearth.url, '?cursor=0')
  try {
    await firehose.opened
    await firehose.until(() => firehose.events().some((f) => f.header.t === '#sync' && f.body.did === did), 10_000, '#sync')
    const mine = firehose.events().filter((f) => (f.body.did ?? f.body.repo) === did)
    assert.ok(!mine.some((f) => f.header.t === '#commit'), 'no #commit before the first write')
    assert.ok(mine.some((f) => f.header.t === '#account' && f.body.active === true))
    const sync = mine.find((f) => f.header.t === '#sync')
    assert.equal(sync?.body.rev, status.data.repoRev)
  } finally {
    firehose.close()
  }
  // Each firehose tells the truth. The old host: the account's birth (identity, account, the
  // empty repo's commit and sync), one commit per record written, then its deactivation.
  assert.deepEqual(told(first.dataDir), [
    '#identity',
    '#account active',
    '#commit',
    '#sync',
    ...[...records.keys()].map(() => '#commit'),
    '#account deactivated',
  ])
  // The new host: nothing while the account was deactivated there (createAccount, importRepo,
  // blobs, preferences); the PLC submission's #identity, then activation's account/identity/sync.
  const arrival = sequencedEvents(join(hearth.dataDir, 'sequencer.sqlite'), did)
  assert.deepEqual(arrival.map(describeEvent), ARRIVAL)
  assert.equal(arrival[2].body.handle, HANDLE)
  assert.equal(arrival[3].body.rev, status.data.repoRev)
  assert.equal((await repoStatus(hearth.url)).active, true)
  assert.deepEqual(await repoStatus(first.url), { did, active: false, status: 'deactivated' })

  await assertArrived(hearth.url, hearth.dataDir, { resigned: true })
  const oldStatus = await oldAgent.com.atproto.server.checkAccountStatus()
  assert.equal(oldStatus.data.activated, false)
  // The write on the new host is a #commit there, and only there.
  assert.deepEqual(told(hearth.dataDir), [...ARRIVAL, '#commit'])
  assert.equal(told(first.dataDir).at(-1), '#account deactivated')
})

test('Hearth → official: the account moves on with everything it had', { skip: officialUnavailable }, async () => {
  const { oldAgent } = await migrate(hearth.url, hearth.dataDir, second.url, SECOND_DID)
  // Hearth, now the old host, adds only the deactivation; the second official only the arrival.
  assert.deepEqual(told(hearth.dataDir), [...ARRIVAL, '#commit', '#account deactivated'])
  const arrival = sequencedEvents(join(second.dataDir, 'sequencer.sqlite'), did)
  assert.deepEqual(arrival.map(describeEvent), ARRIVAL)
  const secondStatus = await repoStatus(second.url)
  assert.deepEqual(secondStatus, { did, active: true, rev: arrival[3].body.rev })
  assert.deepEqual(await repoStatus(hearth.url), { did, active: false, status: 'deactivated' })
  await assertArrived(second.url, second.dataDir)
  assert.deepEqual(told(second.dataDir), [...ARRIVAL, '#commit'])
  // Nothing more from the hosts the account left.
  assert.deepEqual(told(hearth.dataDir), [...ARRIVAL, '#commit', '#account deactivated'])
  assert.equal(told(first.dataDir).at(-1), '#account deactivated')
  const oldStatus = await oldAgent.com.atproto.server.checkAccountStatus()
  assert.equal(oldStatus.data.activated, false)
  // The deactivated copy on Hearth is no longer served.
  const res = await fetch(`${hearth.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)
  assert.equal(res.status, 400)
  assert.equal(((await res.json()) as { error: string }).error, 'RepoDeactivated')
})
