// Deleting and deactivating an account end to end: what is left on disk, what the sync
// endpoints, sessions and writes say afterwards, and what the firehose log records.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { decodeCbor } from '../../../src/repo/cbor.ts'
import type { SeqRow } from '../../../src/sequencer/sequencer.ts'
import { png } from '../../blob/samples.ts'
import type { TestPds } from '../../helpers/pds.ts'
import type { SmtpCapture } from '../../mail/smtp-capture.ts'
import { emailOf, rejectsWith, startMailingPds } from './helpers.ts'

let pds: TestPds
let smtp: SmtpCapture
before(async () => {
  ;({ pds, smtp } = await startMailingPds())
})
after(async () => {
  await pds?.close()
  await smtp?.close()
})

function eventsOf(did: string): SeqRow[] {
  return pds.hearth.services.sequencer.range(0, 100_000).filter((row) => row.did === did)
}

function body(row: SeqRow): Record<string, unknown> {
  return decodeCbor(row.event) as Record<string, unknown>
}

async function postWithImage(agent: AtpAgent): Promise<string> {
  const up = await agent.uploadBlob(new Uint8Array(png), { encoding: 'image/png' })
  await agent.post({
    text: 'with a picture',
    createdAt: new Date().toISOString(),
    embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: 'a pixel' }] },
  })
  return up.data.blob.ref.toString()
}

test('deleteAccount: password and mailed code remove the account, its files and its history', async () => {
  const s = pds.hearth.services
  const al = await pds.createAccount('del')
  const bo = await pds.createAccount('delb')
  const blobCid = await postWithImage(al.agent)
  const boBlob = await postWithImage(bo.agent)
  const actorDir = s.actors.location(al.did).directory
  assert.ok(existsSync(actorDir))
  assert.ok(await s.blobs.hasStored(al.did, blobCid))
  const appPw = await al.agent.com.atproto.server.createAppPassword({ name: 'app' })

  await al.agent.com.atproto.server.requestAccountDelete()
  const mail = await smtp.next(emailOf(al.handle))
  assert.equal(mail.subject, 'Account Deletion Requested')
  const code = mail.token as string
  const anon = pds.agent()

  await rejectsWith(
    anon.com.atproto.server.deleteAccount({ did: al.did, password: 'wrong-password', token: code }),
    401,
    'AuthenticationRequired',
    'Invalid did or password',
  )
  // The app password is not the account password.
  await rejectsWith(
    anon.com.atproto.server.deleteAccount({ did: al.did, password: appPw.data.password, token: code }),
    401,
    'AuthenticationRequired',
  )
  await rejectsWith(anon.com.atproto.server.deleteAccount({ did: al.did, password: al.password, token: 'AAAAA-BBBBB' }), 400, 'InvalidToken')
  // Bo's password cannot delete Al, nor Al's code Bo.
  await rejectsWith(anon.com.atproto.server.deleteAccount({ did: bo.did, password: bo.password, token: code }), 400, 'InvalidToken')
  assert.ok(existsSync(actorDir))

  await anon.com.atproto.server.deleteAccount({ did: al.did, password: al.password, token: code })

  assert.ok(!existsSync(actorDir), 'actor store directory removed')
  assert.ok(!(await s.blobs.hasStored(al.did, blobCid)), 'blob removed')
  assert.equal(s.accounts.getAccount(al.did, { includeDeactivated: true, includeTakenDown: true }), null)
  assert.equal(s.accounts.getRepoRoot(al.did), null)

  // The log keeps only the deletion, as official.
  const events = eventsOf(al.did)
  assert.equal(events.length, 1)
  assert.equal(events[0].eventType, 'account')
  assert.deepEqual(body(events[0]), { did: al.did, active: false, status: 'deleted' })

  await rejectsWith(anon.com.atproto.sync.getRepo({ did: al.did }), 400, 'RepoNotFound')
  await rejectsWith(anon.com.atproto.sync.getLatestCommit({ did: al.did }), 400, 'RepoNotFound')
  await rejectsWith(anon.com.atproto.sync.getRepoStatus({ did: al.did }), 400, 'RepoNotFound')
  await rejectsWith(new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: al.password }), 401, 'AuthenticationRequired')
  await rejectsWith(new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: appPw.data.password }), 401, 'AuthenticationRequired')
  await rejectsWith(al.agent.com.atproto.server.getSession(), 400, 'ExpiredToken')
  await rejectsWith(anon.com.atproto.server.deleteAccount({ did: al.did, password: al.password, token: code }), 400, 'InvalidRequest', 'account not found')
  // The handle is free again.
  await pds.agent().createAccount({ handle: al.handle, email: 'again@example.com', password: 'pw-again-1' })

  // Bo is untouched.
  assert.ok(await s.blobs.hasStored(bo.did, boBlob))
  assert.equal((await anon.com.atproto.sync.getRepoStatus({ did: bo.did })).data.active, true)
  assert.ok(eventsOf(bo.did).length > 1)
})

test('deleteAccount for an unknown DID, and an expired code', async () => {
  await rejectsWith(
    pds.agent().com.atproto.server.deleteAccount({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', password: 'x', token: 'AAAAA-BBBBB' }),
    400,
    'InvalidRequest',
    'account not found',
  )
  const al = await pds.createAccount('delx')
  await al.agent.com.atproto.server.requestAccountDelete()
  const code = (await smtp.next(emailOf(al.handle))).token as string
  const old = new Date(Date.now() - 16 * 60_000).toISOString()
  pds.hearth.services.accounts.db.prepare(`UPDATE "email_token" SET "requestedAt" = ? WHERE "did" = ?`).run(old, al.did)
  await rejectsWith(pds.agent().com.atproto.server.deleteAccount({ did: al.did, password: al.password, token: code }), 400, 'ExpiredToken')
  assert.ok(existsSync(pds.hearth.services.actors.location(al.did).directory))
})

test('deactivate: repo hidden from others, writes refused, sessions kept; activate restores all', async () => {
  const al = await pds.createAccount('deact')
  const anon = pds.agent()
  await al.agent.post({ text: 'before', createdAt: new Date().toISOString() })
  const seqBefore = pds.hearth.services.sequencer.lastSeq() ?? 0

  // Full access only.
  const appPw = await al.agent.com.atproto.server.createAppPassword({ name: 'app' })
  const app = new AtpAgent({ service: pds.url })
  await app.login({ identifier: al.handle, password: appPw.data.password })
  await rejectsWith(app.com.atproto.server.deactivateAccount({}), 400, 'InvalidToken')

  const deleteAfter = new Date(Date.now() + 7 * 86_400_000).toISOString()
  await al.agent.com.atproto.server.deactivateAccount({ deleteAfter })
  const row = pds.hearth.services.accounts.getAccount(al.did, { includeDeactivated: true })
  assert.ok(row?.deactivatedAt)
  assert.equal(row?.deleteAfter, deleteAfter)

  const deactEvents = eventsOf(al.did).filter((e) => e.seq > seqBefore)
  assert.equal(deactEvents.length, 1)
  assert.deepEqual(body(deactEvents[0]), { did: al.did, active: false, status: 'deactivated' })

  await rejectsWith(anon.com.atproto.sync.getRepo({ did: al.did }), 400, 'RepoDeactivated')
  await rejectsWith(anon.com.atproto.sync.getLatestCommit({ did: al.did }), 400, 'RepoDeactivated')
  const status = await anon.com.atproto.sync.getRepoStatus({ did: al.did })
  assert.equal(status.data.active, false)
  assert.equal(status.data.status, 'deactivated')
  // The owner may still export their repo (e.g. to move it).
  const own = await al.agent.com.atproto.sync.getRepo({ did: al.did })
  assert.ok(own.data.length > 0)

  await rejectsWith(al.agent.post({ text: 'while away', createdAt: new Date().toISOString() }), 401, 'AccountDeactivated')
  const session = await al.agent.com.atproto.server.getSession()
  assert.equal(session.data.active, false)
  assert.equal(session.data.status, 'deactivated')
  // Logging in still works (to reactivate), and says so.
  const login = new AtpAgent({ service: pds.url })
  const res = await login.login({ identifier: al.handle, password: al.password })
  assert.equal(res.data.active, false)
  assert.equal(res.data.status, 'deactivated')

  await rejectsWith(app.com.atproto.server.activateAccount(), 400, 'InvalidToken')
  const seqMid = pds.hearth.services.sequencer.lastSeq() ?? 0
  await al.agent.com.atproto.server.activateAccount()
  const actEvents = eventsOf(al.did).filter((e) => e.seq > seqMid)
  assert.deepEqual(
    actEvents.map((e) => e.eventType),
    ['account', 'identity', 'sync'],
  )
  assert.deepEqual(body(actEvents[0]), { did: al.did, active: true })
  assert.deepEqual(body(actEvents[1]), { did: al.did, handle: al.handle })
  const sync = body(actEvents[2])
  const latest = await anon.com.atproto.sync.getLatestCommit({ did: al.did })
  assert.equal(sync.did, al.did)
  assert.equal(sync.rev, latest.data.rev)

  const after = pds.hearth.services.accounts.getAccount(al.did)
  assert.ok(after && after.deactivatedAt === null && after.deleteAfter === null)
  assert.ok((await anon.com.atproto.sync.getRepo({ did: al.did })).data.length > 0)
  assert.equal((await anon.com.atproto.sync.getRepoStatus({ did: al.did })).data.active, true)
  const post = await al.agent.post({ text: 'back again', createdAt: new Date().toISOString() })
  assert.match(post.uri, /^at:\/\//)
})

test('activateAccount refuses when the DID document does not point here', async () => {
  const al = await pds.createAccount('actbad')
  await al.agent.com.atproto.server.deactivateAccount({})
  // Pretend the PDS moved: the DID document now names another endpoint.
  const cfg = pds.hearth.services.config.service as { publicUrl: string }
  const realUrl = cfg.publicUrl
  cfg.publicUrl = 'https://elsewhere.example.com'
  try {
    await rejectsWith(
      al.agent.com.atproto.server.activateAccount(),
      400,
      'InvalidRequest',
      'DID document atproto_pds service endpoint does not match PDS public url',
    )
  } finally {
    cfg.publicUrl = realUrl
  }
  assert.ok(pds.hearth.services.accounts.getAccount(al.did, { includeDeactivated: true })?.deactivatedAt)
  await al.agent.com.atproto.server.activateAccount()
  assert.equal(pds.hearth.services.accounts.getAccountStatus(al.did), 'active')
})
