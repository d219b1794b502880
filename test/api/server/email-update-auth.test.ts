// Who may ask for an email change, as the official PDS (0.5.35) decides it: requestEmailUpdate
// takes a full password session only. App passwords, privileged or not, get 400 InvalidToken
// "Bad token scope" (the official's ACCESS_FULL), and OAuth sessions, whatever their scopes, get
// 403 Forbidden: changing the email is the account holder's own business, like updateEmail.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import type { OAuthProvider } from '../../../src/oauth/provider.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { codeFrom, loopbackClientId, makeDpopKey, TestOAuthClient } from '../../oauth/helpers.ts'
import { call } from './helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(async () => {
  await pds?.close()
})

async function appPasswordSession(agent: AtpAgent, handle: string, privileged: boolean): Promise<string> {
  const created = await agent.com.atproto.server.createAppPassword({ name: `app-${privileged}`, privileged })
  const app = new AtpAgent({ service: pds.url })
  await app.login({ identifier: handle, password: created.data.password })
  return app.session?.accessJwt as string
}

test('requestEmailUpdate: a full session may, app passwords may not (privileged or not)', async () => {
  const al = await pds.createAccount('emailauth')
  const plain = await appPasswordSession(al.agent, al.handle, false)
  const privileged = await appPasswordSession(al.agent, al.handle, true)

  for (const [what, token] of [
    ['a non-privileged app password', plain],
    ['a privileged app password', privileged],
  ] as const) {
    const res = await call(pds, 'com.atproto.server.requestEmailUpdate', { bearer: token, rawBody: '' })
    assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`)
    assert.equal(res.body.error, 'InvalidToken', what)
    assert.equal(res.body.message, 'Bad token scope', what)
  }
  // Nothing was asked of the mailer for them: no update code exists.
  const row = pds.hearth.services.accounts.db
    .prepare(`SELECT 1 FROM "email_token" WHERE "did" = ? AND "purpose" = 'update_email'`)
    .get(al.did)
  assert.equal(row, undefined)

  const full = await al.agent.com.atproto.server.requestEmailUpdate()
  assert.deepEqual(full.data, { tokenRequired: false })
})

test('requestEmailUpdate: an OAuth session is refused 403 Forbidden, even one allowed to manage the email', async () => {
  const al = await pds.createAccount('emailoauth')
  const provider = pds.hearth.services.oauth as OAuthProvider
  const scope = 'atproto account:email?action=manage'
  const client = new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
  const { res, verifier } = await client.par(scope)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const redirect = await provider.acceptAuthorization(res.body.request_uri as string, al.did, 'dev-test')
  const token = await client.exchange(codeFrom(redirect), verifier)
  assert.equal(token.status, 200, JSON.stringify(token.body))
  const access = token.body.access_token as string
  // The session works, and may manage the email where the official lets it (confirmation).
  assert.equal((await client.xrpc('GET', 'com.atproto.server.getSession', access)).status, 200)
  const confirm = await client.xrpc('POST', 'com.atproto.server.requestEmailConfirmation', access)
  assert.equal(confirm.status, 200, JSON.stringify(confirm.body))

  const update = await client.xrpc('POST', 'com.atproto.server.requestEmailUpdate', access)
  assert.equal(update.status, 403, JSON.stringify(update.body))
  assert.equal(update.body.error, 'Forbidden')
  // In the official 0.5 line's words, and updateEmail the same.
  assert.equal(update.body.message, 'Use the account manager interface to update email address associated with an account')
  const change = await client.xrpc('POST', 'com.atproto.server.updateEmail', access, { body: { email: 'x@example.com' } })
  assert.equal(change.status, 403, JSON.stringify(change.body))
  assert.equal(change.body.message, 'Use the account manager interface to update email address associated with an account')
  const reactivate = await client.xrpc('POST', 'com.atproto.server.activateAccount', access)
  assert.equal(reactivate.status, 403, JSON.stringify(reactivate.body))
  assert.match(String(reactivate.body.message), /^Account reactivation is not available with OAuth credentials/)
})
