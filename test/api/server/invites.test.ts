// Invite codes on a server that requires them (PDS_INVITE_REQUIRED=true): sign-up refused without
// a usable code, admin-made codes used up, and the periodic codes PDS_INVITE_INTERVAL earns.
// Also PDS_ENABLE_DID_DOC_WITH_SESSION, which this server turns on.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { basicAuth, call } from './helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds({
    env: { PDS_INVITE_REQUIRED: 'true', PDS_INVITE_INTERVAL: '1', PDS_ENABLE_DID_DOC_WITH_SESSION: 'true' },
  })
})
after(async () => {
  await pds?.close()
})

const signup = (handle: string, inviteCode?: string) =>
  call(pds, 'com.atproto.server.createAccount', {
    json: { handle, email: `${handle}@example.com`, password: 'pw-invited', ...(inviteCode ? { inviteCode } : {}) },
  })

test('describeServer says invites are required', async () => {
  const desc = await pds.agent().com.atproto.server.describeServer()
  assert.equal(desc.data.inviteCodeRequired, true)
  assert.equal(desc.data.did, pds.hearth.services.config.service.did)
})

test('sign-up needs a usable invite code; admin codes are used up', async () => {
  const missing = await signup('nocode.test')
  assert.equal(missing.status, 400)
  assert.equal(missing.body.error, 'InvalidInviteCode')
  const bogus = await signup('bogus.test', 'localhost-aaaaa-bbbbb')
  assert.equal(bogus.status, 400)
  assert.equal(bogus.body.error, 'InvalidInviteCode')

  // Only the admin may make codes.
  const noAdmin = await call(pds, 'com.atproto.server.createInviteCode', { json: { useCount: 1 } })
  assert.equal(noAdmin.status, 401)
  const wrongAdmin = await call(pds, 'com.atproto.server.createInviteCode', { json: { useCount: 1 }, auth: basicAuth('wrong') })
  assert.equal(wrongAdmin.status, 401)
  assert.equal(wrongAdmin.body.error, 'AuthenticationRequired')

  const made = await call(pds, 'com.atproto.server.createInviteCode', { json: { useCount: 1 }, auth: basicAuth(pds.adminPassword) })
  assert.equal(made.status, 200)
  assert.match(made.body.code, /^localhost-[a-z2-7]{5}-[a-z2-7]{5}$/)

  const ok = await signup('invited.test', made.body.code)
  assert.equal(ok.status, 200)
  assert.equal(ok.body.handle, 'invited.test')
  // PDS_ENABLE_DID_DOC_WITH_SESSION: the DID document comes with the session.
  assert.equal(ok.body.didDoc?.id, ok.body.did)

  const usedUp = await signup('second.test', made.body.code)
  assert.equal(usedUp.status, 400)
  assert.equal(usedUp.body.error, 'InvalidInviteCode')
  assert.equal(pds.hearth.services.accounts.getAccount('second.test'), null)

  // Several codes, each for several uses, for named accounts.
  const many = await call(pds, 'com.atproto.server.createInviteCodes', {
    json: { codeCount: 2, useCount: 2, forAccounts: [ok.body.did, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'] },
    auth: basicAuth(pds.adminPassword),
  })
  assert.equal(many.status, 200)
  assert.equal(many.body.codes.length, 2)
  assert.equal(many.body.codes[0].account, ok.body.did)
  assert.equal(many.body.codes[0].codes.length, 2)
  const shared = many.body.codes[1].codes[0] as string
  assert.equal((await signup('multi1.test', shared)).status, 200)
  assert.equal((await signup('multi2.test', shared)).status, 200)
  assert.equal((await signup('multi3.test', shared)).body.error, 'InvalidInviteCode')
  const bad = await call(pds, 'com.atproto.server.createInviteCodes', {
    json: { codeCount: 'two', useCount: 1 },
    auth: basicAuth(pds.adminPassword),
  })
  assert.equal(bad.status, 400)
  assert.equal(bad.body.error, 'InvalidRequest')
})

test('getAccountInviteCodes: gifted codes, and periodic ones up to five open at a time', async () => {
  const code = await call(pds, 'com.atproto.server.createInviteCode', { json: { useCount: 1 }, auth: basicAuth(pds.adminPassword) })
  const agent = new AtpAgent({ service: pds.url })
  await agent.createAccount({ handle: 'earner.test', email: 'earner@example.com', password: 'pw-earner', inviteCode: code.body.code })
  const did = agent.session?.did as string
  const gift = await call(pds, 'com.atproto.server.createInviteCode', {
    json: { useCount: 3, forAccount: did },
    auth: basicAuth(pds.adminPassword),
  })

  const without = await agent.com.atproto.server.getAccountInviteCodes({ createAvailable: false })
  assert.deepEqual(
    without.data.codes.map((c) => c.code),
    [gift.body.code],
  )
  // PDS_INVITE_INTERVAL=1ms: the account has earned plenty, but at most five are open.
  const first = await agent.com.atproto.server.getAccountInviteCodes()
  const periodic = first.data.codes.filter((c) => c.createdBy === did)
  assert.equal(periodic.length, 5)
  assert.ok(periodic.every((c) => c.available === 1 && c.forAccount === did && c.uses.length === 0))
  const again = await agent.com.atproto.server.getAccountInviteCodes()
  assert.equal(again.data.codes.length, 6)

  // Using one of them lets one more be made; used codes are hidden unless includeUsed.
  const used = periodic[0].code
  assert.equal((await signup('friend.test', used)).status, 200)
  const after = await agent.com.atproto.server.getAccountInviteCodes({ includeUsed: false })
  assert.ok(!after.data.codes.some((c) => c.code === used))
  assert.equal(after.data.codes.filter((c) => c.createdBy === did).length, 5)
  const all = await agent.com.atproto.server.getAccountInviteCodes({ includeUsed: true, createAvailable: false })
  const usedView = all.data.codes.find((c) => c.code === used)
  assert.equal(usedView?.uses.length, 1)

  // The session refresh also carries the DID document here.
  const refreshed = await call(pds, 'com.atproto.server.refreshSession', { rawBody: '', bearer: agent.session?.refreshJwt })
  assert.equal(refreshed.body.didDoc?.id, did)
})
