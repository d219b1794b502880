// A PDS without PDS_EMAIL_SMTP_URL: the email methods answer as the official PDS's do (its JSON
// transport "sends" successfully), the codes are made all the same; and the official per-account
// limits on the mailing methods hold (rate limits on for this server).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { rejectsWith } from '../api/account-lifecycle/helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds({ env: { PDS_RATE_LIMITS_ENABLED: 'true' } })
})
after(async () => {
  await pds?.close()
})

function tokenRow(did: string, purpose: string): { token: string } | undefined {
  return pds.hearth.services.accounts.db
    .prepare(`SELECT "token" FROM "email_token" WHERE "did" = ? AND "purpose" = ?`)
    .get(did, purpose) as { token: string } | undefined
}

test('no SMTP: the mailing methods succeed and their codes exist, unsent', async () => {
  assert.equal(pds.hearth.services.mailer.configured, false)
  const al = await pds.createAccount('nosmtp')
  await al.agent.com.atproto.server.requestEmailConfirmation()
  const confirm = tokenRow(al.did, 'confirm_email')
  assert.ok(confirm)
  // An operator can still confirm on the user's behalf with the stored code, as the flow would.
  await al.agent.com.atproto.server.confirmEmail({ email: `${al.handle}@example.com`, token: confirm.token })

  const upd = await al.agent.com.atproto.server.requestEmailUpdate()
  assert.deepEqual(upd.data, { tokenRequired: true })
  assert.ok(tokenRow(al.did, 'update_email'))

  await pds.agent().com.atproto.server.requestPasswordReset({ email: `${al.handle}@example.com` })
  assert.ok(tokenRow(al.did, 'reset_password'))
  await al.agent.com.atproto.server.requestAccountDelete()
  assert.ok(tokenRow(al.did, 'delete_account'))
})

test('requestEmailConfirmation: 5 an hour per account, then 429; other accounts unaffected', async () => {
  const al = await pds.createAccount('limit')
  const bo = await pds.createAccount('limitb')
  for (let i = 0; i < 5; i++) await al.agent.com.atproto.server.requestEmailConfirmation()
  await rejectsWith(al.agent.com.atproto.server.requestEmailConfirmation(), 429, 'RateLimitExceeded')
  // Each method counts on its own.
  await al.agent.com.atproto.server.requestEmailUpdate()
  await bo.agent.com.atproto.server.requestEmailConfirmation()
})
