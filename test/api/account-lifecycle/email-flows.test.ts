// The emailed-code flows end to end, through the official client against a real Hearth that
// mails through a real SMTP server: confirm email, change email, reset password, PLC operation
// codes; and the codes' rules (15 minutes, one use, one purpose, one account).
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

test('confirm email: the mailed code confirms the address, once, and only with that address', async () => {
  const al = await pds.createAccount('conf')
  const email = emailOf(al.handle)
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailConfirmed, false)

  await al.agent.com.atproto.server.requestEmailConfirmation()
  const mail = await smtp.next(email)
  assert.equal(mail.subject, 'Email Confirmation')
  assert.equal(mail.from, 'noreply@pds.test')
  assert.ok(mail.token)

  await rejectsWith(
    al.agent.com.atproto.server.confirmEmail({ email: 'other@example.com', token: mail.token }),
    400,
    'InvalidEmail',
  )
  await rejectsWith(al.agent.com.atproto.server.confirmEmail({ email, token: 'AAAAA-BBBBB' }), 400, 'InvalidToken', 'Token is invalid')
  // The address is compared case-insensitively, and so is the code.
  await al.agent.com.atproto.server.confirmEmail({ email: email.toUpperCase(), token: mail.token.toLowerCase() })
  const session = await al.agent.com.atproto.server.getSession()
  assert.equal(session.data.emailConfirmed, true)
  assert.equal(session.data.email, email)

  await rejectsWith(al.agent.com.atproto.server.confirmEmail({ email, token: mail.token }), 400, 'InvalidToken')
})

test('codes expire after 15 minutes, and a new request replaces the old code', async () => {
  const al = await pds.createAccount('exp')
  const email = emailOf(al.handle)
  await al.agent.com.atproto.server.requestEmailConfirmation()
  const first = (await smtp.next(email)).token as string
  expireEmailTokens(pds, al.did)
  await rejectsWith(al.agent.com.atproto.server.confirmEmail({ email, token: first }), 400, 'ExpiredToken', 'Token is expired')

  await al.agent.com.atproto.server.requestEmailConfirmation()
  const second = (await smtp.next(email)).token as string
  assert.notEqual(second, first)
  await rejectsWith(al.agent.com.atproto.server.confirmEmail({ email, token: first }), 400, 'InvalidToken')
  await al.agent.com.atproto.server.confirmEmail({ email, token: second })
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailConfirmed, true)
})

test("a code works only for its purpose and only for its own account", async () => {
  const al = await pds.createAccount('purp')
  const bo = await pds.createAccount('purpb')
  await al.agent.com.atproto.server.requestAccountDelete()
  const deleteCode = (await smtp.next(emailOf(al.handle))).token as string
  await rejectsWith(
    al.agent.com.atproto.server.confirmEmail({ email: emailOf(al.handle), token: deleteCode }),
    400,
    'InvalidToken',
  )
  await rejectsWith(pds.agent().com.atproto.server.resetPassword({ token: deleteCode, password: 'new-password-1' }), 400, 'InvalidToken')

  await bo.agent.com.atproto.server.requestEmailConfirmation()
  const boCode = (await smtp.next(emailOf(bo.handle))).token as string
  // Al's session with Bo's code and Bo's address: the address is not Al's.
  await rejectsWith(al.agent.com.atproto.server.confirmEmail({ email: emailOf(bo.handle), token: boCode }), 400, 'InvalidEmail')
  // Al's address with Bo's code: no such code for Al.
  await rejectsWith(al.agent.com.atproto.server.confirmEmail({ email: emailOf(al.handle), token: boCode }), 400, 'InvalidToken')
  assert.equal((await al.agent.com.atproto.server.getSession()).data.emailConfirmed, false)
  // Al's code is still good for its own purpose.
  assert.equal(pds.hearth.services.accounts.checkEmailToken(al.did, 'delete_account', deleteCode), 'valid')
})

test('email update of an unconfirmed address: no code needed, none sent', async () => {
  const al = await pds.createAccount('upd')
  const before = smtp.received.length
  const res = await al.agent.com.atproto.server.requestEmailUpdate()
  assert.deepEqual(res.data, { tokenRequired: false })
  assert.equal(smtp.received.length, before)

  await rejectsWith(al.agent.com.atproto.server.updateEmail({ email: 'not-an-email' }), 400, 'InvalidRequest')
  await al.agent.com.atproto.server.updateEmail({ email: 'New.Address@Example.com' })
  const session = await al.agent.com.atproto.server.getSession()
  assert.equal(session.data.email, 'new.address@example.com')
  assert.equal(session.data.emailConfirmed, false)
  // The new address is the login identifier now.
  const login = new AtpAgent({ service: pds.url })
  await login.login({ identifier: 'new.address@example.com', password: al.password })
  assert.equal(login.session?.did, al.did)
})

test('email update of a confirmed address needs the code mailed to the old address', async () => {
  const al = await pds.createAccount('updc')
  const bo = await pds.createAccount('updcb')
  const oldEmail = emailOf(al.handle)
  await al.agent.com.atproto.server.requestEmailConfirmation()
  await al.agent.com.atproto.server.confirmEmail({ email: oldEmail, token: (await smtp.next(oldEmail)).token as string })

  const res = await al.agent.com.atproto.server.requestEmailUpdate()
  assert.deepEqual(res.data, { tokenRequired: true })
  const mail = await smtp.next(oldEmail)
  assert.equal(mail.subject, 'Email Update Requested')
  const code = mail.token as string

  await rejectsWith(al.agent.com.atproto.server.updateEmail({ email: 'al-new@example.com' }), 400, 'TokenRequired')
  await rejectsWith(al.agent.com.atproto.server.updateEmail({ email: 'al-new@example.com', token: 'AAAAA-BBBBB' }), 400, 'InvalidToken')
  // Another account's address is refused, and the code survives the refusal.
  await rejectsWith(
    al.agent.com.atproto.server.updateEmail({ email: emailOf(bo.handle), token: code }),
    400,
    'InvalidRequest',
    'This email address is already in use, please use a different email.',
  )
  await al.agent.com.atproto.server.updateEmail({ email: 'al-new@example.com', token: code })
  const session = await al.agent.com.atproto.server.getSession()
  assert.equal(session.data.email, 'al-new@example.com')
  assert.equal(session.data.emailConfirmed, false)

  // Confirm the new address, then try the spent code again.
  await al.agent.com.atproto.server.requestEmailConfirmation()
  await al.agent.com.atproto.server.confirmEmail({
    email: 'al-new@example.com',
    token: (await smtp.next('al-new@example.com')).token as string,
  })
  await rejectsWith(al.agent.com.atproto.server.updateEmail({ email: 'al-third@example.com', token: code }), 400, 'InvalidToken')
})

test('an expired update code is refused', async () => {
  const al = await pds.createAccount('updx')
  const email = emailOf(al.handle)
  await al.agent.com.atproto.server.requestEmailConfirmation()
  await al.agent.com.atproto.server.confirmEmail({ email, token: (await smtp.next(email)).token as string })
  await al.agent.com.atproto.server.requestEmailUpdate()
  const code = (await smtp.next(email)).token as string
  expireEmailTokens(pds, al.did)
  await rejectsWith(al.agent.com.atproto.server.updateEmail({ email: 'x-new@example.com', token: code }), 400, 'ExpiredToken')
})

test('password reset: the code sets a new password and ends every session', async () => {
  const al = await pds.createAccount('reset')
  const email = emailOf(al.handle)
  const second = new AtpAgent({ service: pds.url })
  await second.login({ identifier: al.handle, password: al.password })
  const oldRefresh = second.session?.refreshJwt as string

  // An unknown address gets the same empty answer, and no mail.
  const before = smtp.received.length
  await pds.agent().com.atproto.server.requestPasswordReset({ email: 'nobody-here@example.com' })
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.equal(smtp.received.length, before)

  await pds.agent().com.atproto.server.requestPasswordReset({ email: email.toUpperCase() })
  const mail = await smtp.next(email)
  assert.equal(mail.subject, 'Password Reset Requested')
  assert.match(mail.raw, new RegExp(`@${al.handle.replaceAll('.', '\\.')}`))
  const code = mail.token as string

  await rejectsWith(pds.agent().com.atproto.server.resetPassword({ token: 'AAAAA-BBBBB', password: 'brand-new-pw' }), 400, 'InvalidToken')
  await rejectsWith(pds.agent().com.atproto.server.resetPassword({ token: code, password: 'x'.repeat(257) }), 400, 'InvalidRequest', 'Invalid password length.')
  await pds.agent().com.atproto.server.resetPassword({ token: code, password: 'brand-new-pw' })

  // Both old sessions are over: access tokens revoked, refresh tokens gone.
  await rejectsWith(al.agent.com.atproto.server.getSession(), 400, 'ExpiredToken')
  const refresh = await fetch(`${pds.url}/xrpc/com.atproto.server.refreshSession`, {
    method: 'POST',
    headers: { authorization: `Bearer ${oldRefresh}` },
  })
  assert.equal(refresh.status, 400)
  assert.equal(((await refresh.json()) as { error: string }).error, 'ExpiredToken')

  await rejectsWith(new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: al.password }), 401, 'AuthenticationRequired')
  const fresh = new AtpAgent({ service: pds.url })
  await fresh.login({ identifier: al.handle, password: 'brand-new-pw' })
  assert.equal(fresh.session?.did, al.did)

  await rejectsWith(pds.agent().com.atproto.server.resetPassword({ token: code, password: 'another-pw-2' }), 400, 'InvalidToken')
})

test('an expired reset code is refused and the password stays', async () => {
  const al = await pds.createAccount('resetx')
  const email = emailOf(al.handle)
  await pds.agent().com.atproto.server.requestPasswordReset({ email })
  const code = (await smtp.next(email)).token as string
  expireEmailTokens(pds, al.did)
  await rejectsWith(pds.agent().com.atproto.server.resetPassword({ token: code, password: 'brand-new-pw' }), 400, 'ExpiredToken')
  const login = new AtpAgent({ service: pds.url })
  await login.login({ identifier: al.handle, password: al.password })
  assert.equal(login.session?.did, al.did)
})

test('requestPlcOperationSignature mails a plc_operation code (full-access sessions only)', async () => {
  const al = await pds.createAccount('plcsig')
  await al.agent.com.atproto.identity.requestPlcOperationSignature()
  const mail = await smtp.next(emailOf(al.handle))
  assert.equal(mail.subject, 'PLC Update Operation Requested')
  const code = mail.token as string
  assert.equal(pds.hearth.services.accounts.checkEmailToken(al.did, 'plc_operation', code), 'valid')

  const appPw = await al.agent.com.atproto.server.createAppPassword({ name: 'app' })
  const app = new AtpAgent({ service: pds.url })
  await app.login({ identifier: al.handle, password: appPw.data.password })
  await rejectsWith(app.com.atproto.identity.requestPlcOperationSignature(), 400, 'InvalidToken')
  await rejectsWith(app.com.atproto.server.requestAccountDelete(), 400, 'InvalidToken')
  await rejectsWith(app.com.atproto.server.updateEmail({ email: 'x@example.com' }), 400, 'InvalidToken')
  // Requesting a confirmation is open to app passwords, as official.
  await app.com.atproto.server.requestEmailConfirmation()
  assert.ok((await smtp.next(emailOf(al.handle))).token)
})

test('no session, no code', async () => {
  await rejectsWith(pds.agent().com.atproto.server.requestEmailConfirmation(), 401, 'AuthMissing')
  await rejectsWith(pds.agent().com.atproto.server.requestEmailUpdate(), 401, 'AuthMissing')
  await rejectsWith(pds.agent().com.atproto.server.confirmEmail({ email: 'a@b.com', token: 'AAAAA-BBBBB' }), 401, 'AuthMissing')
})
