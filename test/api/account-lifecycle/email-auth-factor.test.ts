// Email two-factor sign-in (official 0.5.36) end to end through the official client, with the
// codes read from a real SMTP server: turning it on, the 401 AuthFactorTokenRequired and the
// mailed sign-in code, wrong / expired / reused codes, app passwords passing without a code,
// turning it off only with an update_email code, a new address turning it off, and the
// official migration 008 applied (under its official name) when the first account turns it on.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import type { TestPds } from '../../helpers/pds.ts'
import type { SmtpCapture } from '../../mail/smtp-capture.ts'
import { emailOf, expireEmailTokens, rejectsWith, startMailingPds } from './helpers.ts'

let pds: TestPds
let smtp: SmtpCapture
before(async () => {
  ;({ pds, smtp } = await startMailingPds())
})
after(async () => {
  await pds?.close()
  await smtp?.close()
})

type Account = Awaited<ReturnType<TestPds['createAccount']>>

async function confirmEmail(al: Account): Promise<void> {
  await al.agent.com.atproto.server.requestEmailConfirmation()
  const token = (await smtp.next(emailOf(al.handle))).token as string
  await al.agent.com.atproto.server.confirmEmail({ email: emailOf(al.handle), token })
}

async function enable(al: Account): Promise<void> {
  await al.agent.com.atproto.server.updateEmail({ email: emailOf(al.handle), emailAuthFactor: true })
}

function kyselyMigrations(): string[] {
  const rows = pds.hearth.services.accounts.db.prepare(`SELECT name FROM kysely_migration ORDER BY name`).all() as Array<{ name: string }>
  return rows.map((r) => r.name)
}

test('turning the factor on needs a confirmed address; it applies the official migration 008 then, not before', async () => {
  assert.ok(!kyselyMigrations().includes('008'), 'a directory where nobody uses the factor stays openable by older official releases')
  const al = await pds.createAccount('on')
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailAuthFactor, false)
  await rejectsWith(
    al.agent.com.atproto.server.updateEmail({ email: emailOf(al.handle), emailAuthFactor: true }),
    400,
    'InvalidRequest',
    'A confirmed email address is required to enable email-based two-factor authentication',
  )
  await confirmEmail(al)
  await enable(al)
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailAuthFactor, true)
  assert.ok(kyselyMigrations().includes('008'))
  const table = pds.hearth.services.accounts.db
    .prepare(`SELECT sql FROM sqlite_master WHERE name = 'account_email_auth_factor'`)
    .get() as { sql: string }
  assert.equal(table.sql, `CREATE TABLE "account_email_auth_factor" ("did" varchar primary key, "emailAuthFactorEnabledAt" varchar not null)`)
  // Enabling again keeps the first timestamp.
  const at = pds.hearth.services.accounts.getEmailAuthFactor(al.did)
  await enable(al)
  assert.equal(pds.hearth.services.accounts.getEmailAuthFactor(al.did), at)
})

test('sign-in with the factor on: 401 AuthFactorTokenRequired and a mailed code; the code signs in once', async () => {
  const al = await pds.createAccount('sign')
  await confirmEmail(al)
  await enable(al)
  const email = emailOf(al.handle)

  const agent = new AtpAgent({ service: pds.url })
  await rejectsWith(
    agent.login({ identifier: al.handle, password: al.password }),
    401,
    'AuthFactorTokenRequired',
    'A sign in code has been sent to your email address',
  )
  const mail = await smtp.next(email)
  assert.equal(mail.subject, 'Sign-in Confirmation')
  assert.match(mail.raw, /Confirm your sign-in/)
  assert.ok(mail.token)

  // A wrong code, and a wrong password with the right code, get nowhere.
  await rejectsWith(agent.login({ identifier: al.handle, password: al.password, authFactorToken: 'AAAAA-BBBBB' }), 400, 'InvalidToken', 'Token is invalid')
  await rejectsWith(agent.login({ identifier: al.handle, password: 'wrong', authFactorToken: mail.token }), 401, 'AuthenticationRequired')

  const res = await agent.login({ identifier: email, password: al.password, authFactorToken: mail.token.toLowerCase() })
  assert.equal(res.data.did, al.did)
  assert.equal(res.data.emailAuthFactor, true)
  // Used up.
  await rejectsWith(
    new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: al.password, authFactorToken: mail.token }),
    400,
    'InvalidToken',
  )
})

test('an expired sign-in code is refused; a new attempt mails a new one', async () => {
  const al = await pds.createAccount('expf')
  await confirmEmail(al)
  await enable(al)
  const agent = new AtpAgent({ service: pds.url })
  await rejectsWith(agent.login({ identifier: al.handle, password: al.password }), 401, 'AuthFactorTokenRequired')
  const first = (await smtp.next(emailOf(al.handle))).token as string
  expireEmailTokens(pds, al.did)
  await rejectsWith(agent.login({ identifier: al.handle, password: al.password, authFactorToken: first }), 400, 'ExpiredToken', 'Token is expired')
  await rejectsWith(agent.login({ identifier: al.handle, password: al.password }), 401, 'AuthFactorTokenRequired')
  const second = (await smtp.next(emailOf(al.handle))).token as string
  await agent.login({ identifier: al.handle, password: al.password, authFactorToken: second })
  assert.equal(agent.session?.did, al.did)
})

test('an app password signs in without a code, and no mail is sent', async () => {
  const al = await pds.createAccount('app')
  const app = await al.agent.com.atproto.server.createAppPassword({ name: 'bot' })
  await confirmEmail(al)
  await enable(al)
  const before = smtp.received.length
  const agent = new AtpAgent({ service: pds.url })
  await agent.login({ identifier: al.handle, password: app.data.password })
  assert.equal(agent.session?.did, al.did)
  assert.equal(smtp.received.length, before)
})

test('turning the factor off needs an update_email code: without one, a code is mailed and 400 TokenRequired', async () => {
  const al = await pds.createAccount('off')
  await confirmEmail(al)
  await enable(al)
  const email = emailOf(al.handle)
  await rejectsWith(
    al.agent.com.atproto.server.updateEmail({ email, emailAuthFactor: false }),
    400,
    'TokenRequired',
    'confirmation token required',
  )
  const mail = await smtp.next(email)
  assert.equal(mail.subject, 'Email Update Requested')
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailAuthFactor, true)
  await rejectsWith(al.agent.com.atproto.server.updateEmail({ email, emailAuthFactor: false, token: 'AAAAA-BBBBB' }), 400, 'InvalidToken')
  await al.agent.com.atproto.server.updateEmail({ email, emailAuthFactor: false, token: mail.token as string })
  const session = (await al.agent.com.atproto.server.getSession()).data
  assert.equal(session.emailAuthFactor, false)
  assert.equal(session.emailConfirmed, true, 'the address stays confirmed')
  // Plain password sign-in again.
  await new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: al.password })
})

test('a new address turns the factor off; enabling it together with a new address is refused', async () => {
  const al = await pds.createAccount('chg')
  await confirmEmail(al)
  await enable(al)
  await rejectsWith(
    al.agent.com.atproto.server.updateEmail({ email: 'other-chg@example.com', emailAuthFactor: true }),
    400,
    'InvalidRequest',
    'Please change and verify your email before enabling OTP',
  )
  await al.agent.com.atproto.server.requestEmailUpdate()
  const token = (await smtp.next(emailOf(al.handle))).token as string
  await al.agent.com.atproto.server.updateEmail({ email: 'new-chg@example.com', token })
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailAuthFactor, false)
  await new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: al.password })
})

test('the factor survives a restart and is enforced on the reopened directory', async () => {
  const al = await pds.createAccount('rst')
  await confirmEmail(al)
  await enable(al)
  await pds.restart()
  await rejectsWith(new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: al.password }), 401, 'AuthFactorTokenRequired')
  assert.ok((await smtp.next(emailOf(al.handle))).token)
})
