// The in-place switch: the official PDS 0.5.35 runs on a data directory, stops, and Hearth
// starts on the same directory with the same environment. Everything its users had must still be
// there, byte for byte: logins (passwords and app passwords), records with the same CIDs, blobs,
// a repo that verifies, and a firehose that carries on from the official's last seq.
//
// The directory is made one that an official 0.5.36+ would leave: npm serves the official only up
// to 0.5.35, which predates email two-factor sign-in, so once it has stopped the official
// migration 008 (008-account-email-auth-factor) is applied to its account.sqlite as Kysely
// applies it (the same statement, recorded in kysely_migration) and one account has the factor
// on. Hearth must keep enforcing it for that account, with the code mailed to a real SMTP
// server, and only for that account.
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
import { type OfficialPds, officialUnavailable, startOfficialPds } from '../helpers/official-pds.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { startSmtpCapture, type SmtpCapture } from '../mail/smtp-capture.ts'
import { rejectsWith } from '../api/account-lifecycle/helpers.ts'
import { pngBytes } from './helpers.ts'
import { snapshotRecords } from './migration-client.ts'

interface Snapshot {
  did: string
  handle: string
  email: string
  password: string
  records: Map<string, string>
  blobs: Map<string, Uint8Array>
}

let plc: { url: string; close(): Promise<void> }
let smtp: SmtpCapture
let dataDir: string
let official: OfficialPds
let hearth: Hearth
let lastOfficialSeq = -1
let alice: Snapshot
let bob: Snapshot
let appPassword = ''
/** When alice's second factor was turned on, as the official 0.5.36+ would have stored it. */
let factorEnabledAt = ''
let migration008At = ''
/** The migrations the official 0.5.35 had recorded when it stopped. */
let officialMigrations: string[] = []

/**
 * What an official 0.5.36+ leaves in account.sqlite: its migration 008 (the statement Kysely
 * issues for it, recorded under the official name in the same transaction) and the row of an
 * account that turned the factor on.
 */
function applyOfficialEmailAuthFactor(did: string): void {
  const db = openDb(join(dataDir, 'account.sqlite'))
  try {
    migration008At = new Date().toISOString()
    factorEnabledAt = new Date(Date.now() - 86_400_000).toISOString()
    db.transaction(() => {
      db.exec(`create table "account_email_auth_factor" ("did" varchar primary key, "emailAuthFactorEnabledAt" varchar not null)`)
      db.prepare(`insert into "kysely_migration" ("name", "timestamp") values (?, ?)`).run('008', migration008At)
    })()
    db.prepare(`insert into "account_email_auth_factor" ("did", "emailAuthFactorEnabledAt") values (?, ?)`).run(did, factorEnabledAt)
  } finally {
    db.close()
  }
}

function kyselyMigrations(): Array<{ name: string; timestamp: string }> {
  const db = openDb(join(dataDir, 'account.sqlite'), { readonly: true })
  try {
    return db.prepare(`SELECT "name", "timestamp" FROM "kysely_migration" ORDER BY "name"`).all() as Array<{ name: string; timestamp: string }>
  } finally {
    db.close()
  }
}

/** Signs alice in with her password and the code mailed to her. */
async function aliceWithCode(): Promise<AtpAgent> {
  const agent = new AtpAgent({ service: hearth.url })
  await rejectsWith(agent.login({ identifier: alice.handle, password: alice.password }), 401, 'AuthFactorTokenRequired')
  const mail = await smtp.next(alice.email)
  await agent.login({ identifier: alice.handle, password: alice.password, authFactorToken: mail.token as string })
  return agent
}

before(async () => {
  if (officialUnavailable) return
  plc = await startReferencePlc()
  smtp = await startSmtpCapture()
  dataDir = mkdtempSync(join(tmpdir(), 'hearth-switch-'))
  official = await startOfficialPds({
    dataDir,
    plcUrl: plc.url.replace('127.0.0.1', 'localhost'),
    env: { PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: 'noreply@pds.test' },
  })

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
  // The official asks for a confirmed address before turning the factor on: confirmed through
  // the official itself, with the code it mailed.
  await a.com.atproto.server.requestEmailConfirmation()
  const confirm = await smtp.next('alice@example.com')
  await a.com.atproto.server.confirmEmail({ email: 'alice@example.com', token: confirm.token as string })

  alice = { did: aliceDid, handle: 'alice.test', email: 'alice@example.com', password: 'alice-password', records: await snapshotRecords(a, aliceDid), blobs }
  bob = { did: bobDid, handle: 'bob.test', email: 'bob@example.com', password: 'bob-password', records: await snapshotRecords(b, bobDid), blobs: new Map() }

  const replay = new Consumer(official.url, '?cursor=0')
  await replay.opened
  await replay.until(() => replay.events().some((f) => f.body.repo === bobDid && f.header.t === '#commit' && f.body.ops?.some((o: { path: string }) => o.path.startsWith('app.bsky.feed.post/'))), 20_000, 'the official backlog')
  await new Promise((r) => setTimeout(r, 300))
  lastOfficialSeq = replay.lastSeq()
  replay.close()

  await official.stop()
  officialMigrations = kyselyMigrations().map((m) => m.name)
  applyOfficialEmailAuthFactor(aliceDid)
  // The same directory and environment, the same port (the DID documents name it).
  hearth = await startServer(loadConfig({ ...official.env, HEARTH_VALIDATE_RESPONSES: 'true' }, { dotenv: false }))
})

after(async () => {
  await hearth?.close()
  await official?.stop()
  await smtp?.close()
  await plc?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

test('the official 0.5.35 left migrations 001…007; the 008 an official 0.5.36+ adds is kept as it was', { skip: officialUnavailable }, async () => {
  assert.deepEqual(officialMigrations, ['001', '002', '003', '004', '005', '006', '007'])
  // Hearth started on it and re-applied nothing: 008 under the official's name and timestamp.
  assert.deepEqual(
    kyselyMigrations().filter((m) => m.name === '008'),
    [{ name: '008', timestamp: migration008At }],
  )
  assert.equal(hearth.services.accounts.getEmailAuthFactor(alice.did), factorEnabledAt)
  assert.equal(hearth.services.accounts.getEmailAuthFactor(bob.did), null)
})

test('the accounts without the second factor sign in with their password alone; a wrong one is refused', { skip: officialUnavailable }, async () => {
  const before = smtp.received.length
  const agent = new AtpAgent({ service: hearth.url })
  const res = await agent.login({ identifier: bob.handle, password: bob.password })
  assert.equal(res.data.did, bob.did)
  assert.equal(res.data.emailAuthFactor, false)
  assert.equal(smtp.received.length, before, 'no code mailed')
  const wrong = new AtpAgent({ service: hearth.url })
  await rejectsWith(wrong.login({ identifier: alice.handle, password: 'not-the-password' }), 401, 'AuthenticationRequired')
  await rejectsWith(wrong.login({ identifier: bob.handle, password: 'not-the-password' }), 401, 'AuthenticationRequired')
  assert.equal(smtp.received.length, before)
})

test('the account with the second factor on: its password alone gets AuthFactorTokenRequired and a mailed code; the code signs in', { skip: officialUnavailable }, async () => {
  const agent = new AtpAgent({ service: hearth.url })
  await rejectsWith(
    agent.login({ identifier: alice.handle, password: alice.password }),
    401,
    'AuthFactorTokenRequired',
    'A sign in code has been sent to your email address',
  )
  const mail = await smtp.next(alice.email)
  assert.deepEqual(mail.to, [alice.email])
  assert.equal(mail.subject, 'Sign-in Confirmation')
  assert.ok(mail.token)
  await rejectsWith(agent.login({ identifier: alice.handle, password: alice.password, authFactorToken: 'AAAAA-BBBBB' }), 400, 'InvalidToken')
  const res = await agent.login({ identifier: alice.handle, password: alice.password, authFactorToken: mail.token })
  assert.equal(res.data.did, alice.did)
  assert.equal(res.data.emailAuthFactor, true)
  assert.equal(res.data.emailConfirmed, true)
  assert.equal((await agent.com.atproto.server.getSession()).data.emailAuthFactor, true)
})

test('an app password made on the official signs in without a code, and no mail is sent', { skip: officialUnavailable }, async () => {
  const before = smtp.received.length
  const viaApp = new AtpAgent({ service: hearth.url })
  await viaApp.login({ identifier: alice.did, password: appPassword })
  assert.equal(viaApp.session?.did, alice.did)
  assert.equal(smtp.received.length, before)
})

test('records keep their CIDs (getRecord, listRecords)', { skip: officialUnavailable }, async () => {
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

test('blobs serve the same bytes', { skip: officialUnavailable }, async () => {
  const agent = new AtpAgent({ service: hearth.url })
  assert.equal(alice.blobs.size, 2)
  for (const [cid, bytes] of alice.blobs) {
    const got = await agent.com.atproto.sync.getBlob({ did: alice.did, cid })
    assert.deepEqual(new Uint8Array(got.data), bytes)
  }
})

test('the repo export verifies with @atproto/repo against the DID document key', { skip: officialUnavailable }, async () => {
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

test('a new post works and the firehose continues at the official seq + 1', { skip: officialUnavailable }, async () => {
  assert.ok(lastOfficialSeq > 0)
  const live = new Consumer(hearth.url, `?cursor=${lastOfficialSeq}`)
  await live.opened
  const agent = await aliceWithCode()
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
