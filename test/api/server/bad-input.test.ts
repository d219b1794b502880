// Malformed requests to every account/session method: each gets the official error name and a
// 4xx, never a 500; and a restart keeps accounts and sessions.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { basicAuth, call, restartPds } from './helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(async () => {
  await pds?.close()
})

test('bad input to each method is a named 4xx', async () => {
  const acct = await pds.createAccount('badin')
  const access = acct.agent.session?.accessJwt as string
  const refresh = acct.agent.session?.refreshJwt as string
  const admin = basicAuth(pds.adminPassword)
  type Case = [nsid: string, opts: Parameters<typeof call>[2], status: number, error: string]
  const cases: Case[] = [
    ['com.atproto.server.createSession', { json: {} }, 400, 'InvalidRequest'],
    ['com.atproto.server.createSession', { json: { identifier: 5, password: 'x' } }, 400, 'InvalidRequest'],
    ['com.atproto.server.createSession', { json: { identifier: acct.handle } }, 400, 'InvalidRequest'],
    ['com.atproto.server.createSession', { rawBody: '{not json' }, 400, 'InvalidRequest'],
    ['com.atproto.server.createSession', { rawBody: 'null' }, 400, 'InvalidRequest'],
    ['com.atproto.server.createSession', { json: { identifier: acct.handle, password: 'p'.repeat(513) } }, 401, 'AuthenticationRequired'],
    ['com.atproto.server.createSession', { json: { identifier: 'nobody.test', password: 'x' } }, 401, 'AuthenticationRequired'],
    ['com.atproto.server.createSession', { json: { identifier: acct.handle, password: 'wrong' } }, 401, 'AuthenticationRequired'],
    ['com.atproto.server.createAccount', { json: [] }, 400, 'InvalidRequest'],
    ['com.atproto.server.createAccount', { json: { handle: 'x'.repeat(300) + '.test', email: 'a@b.co', password: 'x' } }, 400, 'InvalidRequest'],
    ['com.atproto.server.createAccount', { json: { handle: 'okname.test', email: 'a@b.co', password: 'x', did: 'did:plc:cccccccccccccccccccccccc' } }, 401, 'AuthenticationRequired'],
    ['com.atproto.server.createAccount', { json: { handle: 'okname.test', email: 'a@b.co', password: 'x' }, bearer: 'garbage' }, 401, 'BadJwt'],
    ['com.atproto.server.getSession', {}, 401, 'AuthMissing'],
    ['com.atproto.server.getSession', { bearer: 'garbage' }, 400, 'InvalidToken'],
    ['com.atproto.server.getSession', { bearer: refresh }, 400, 'InvalidToken'],
    ['com.atproto.server.getSession', { auth: 'Bearer' }, 400, 'InvalidToken'],
    ['com.atproto.server.getSession', { auth: 'Token abc' }, 400, 'InvalidToken'],
    ['com.atproto.server.refreshSession', { rawBody: '' }, 401, 'AuthMissing'],
    ['com.atproto.server.refreshSession', { rawBody: '', bearer: 'a.b.c' }, 400, 'InvalidToken'],
    ['com.atproto.server.deleteSession', { rawBody: '', bearer: access }, 400, 'InvalidToken'],
    ['com.atproto.server.createAppPassword', { json: {}, bearer: access }, 400, 'InvalidRequest'],
    ['com.atproto.server.createAppPassword', { json: { name: 5 }, bearer: access }, 400, 'InvalidRequest'],
    ['com.atproto.server.createAppPassword', { json: { name: 'x', privileged: 'yes' }, bearer: access }, 400, 'InvalidRequest'],
    ['com.atproto.server.createAppPassword', { json: { name: 'x' } }, 401, 'AuthMissing'],
    ['com.atproto.server.revokeAppPassword', { json: {}, bearer: access }, 400, 'InvalidRequest'],
    ['com.atproto.server.listAppPasswords', {}, 401, 'AuthMissing'],
    ['com.atproto.server.createInviteCode', { json: {}, auth: admin }, 400, 'InvalidRequest'],
    ['com.atproto.server.createInviteCode', { json: { useCount: 'one' }, auth: admin }, 400, 'InvalidRequest'],
    ['com.atproto.server.createInviteCode', { json: { useCount: 1 }, bearer: access }, 401, 'AuthenticationRequired'],
    ['com.atproto.server.createInviteCodes', { json: { codeCount: 1 }, auth: admin }, 400, 'InvalidRequest'],
    ['com.atproto.server.createInviteCodes', { json: { codeCount: 1e9, useCount: 1 }, auth: admin }, 400, 'InvalidRequest'],
    ['com.atproto.server.getAccountInviteCodes', { auth: admin }, 400, 'InvalidToken'],
    ['com.atproto.server.checkAccountStatus', { bearer: 'x' }, 400, 'InvalidToken'],
    ['com.atproto.server.getServiceAuth', { query: { aud: 'did:web:x.example' } }, 401, 'AuthMissing'],
    ['com.atproto.identity.resolveHandle', { query: { handle: '' } }, 400, 'InvalidRequest'],
    ['app.bsky.actor.putPreferences', { json: { preferences: [] } }, 401, 'AuthMissing'],
  ]
  for (const [nsid, opts, status, error] of cases) {
    const res = await call(pds, nsid, opts)
    const label = `${nsid} ${JSON.stringify(opts).slice(0, 120)} → ${JSON.stringify(res.body)}`
    assert.equal(res.status, status, label)
    assert.equal(res.body?.error, error, label)
  }
  // None of that disturbed the account.
  assert.equal((await acct.agent.com.atproto.server.getSession()).data.did, acct.did)
})

test('a restart keeps accounts, sessions and app passwords', async () => {
  const acct = await pds.createAccount('restart')
  const { data: appPw } = await acct.agent.com.atproto.server.createAppPassword({ name: 'kept' })
  const before = acct.agent.session
  await restartPds(pds)
  // The old access token still works, and so does the refresh token.
  const sess = await call(pds, 'com.atproto.server.getSession', { bearer: before?.accessJwt })
  assert.equal(sess.status, 200)
  assert.equal(sess.body.did, acct.did)
  const refreshed = await call(pds, 'com.atproto.server.refreshSession', { rawBody: '', bearer: before?.refreshJwt })
  assert.equal(refreshed.status, 200)
  for (const password of [acct.password, appPw.password]) {
    const agent = new AtpAgent({ service: pds.url })
    await agent.login({ identifier: acct.handle, password })
    assert.equal(agent.session?.did, acct.did)
  }
  const resolved = await pds.agent().com.atproto.identity.resolveHandle({ handle: acct.handle })
  assert.equal(resolved.data.did, acct.did)
})
