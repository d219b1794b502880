// Email address syntax, one rule for every method that takes an address (createAccount,
// updateEmail, requestPasswordReset, admin updateAccountEmail): a local part of RFC 5322 atext
// and single inner dots, a domain of hostname labels. A comma, a NUL, quotes, brackets or spaces
// could make one address several recipients (or a header) once handed to the mailer, so they are
// refused with the official's 400 before anything is stored or sent.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { isSupportedEmail } from '../../src/mail/address.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { basicAuth, call } from '../api/server/helpers.ts'

const REFUSED = [
  'x,attacker@evil.example',
  'x@example.com,attacker@evil.example',
  'a\u0000b@example.com',
  'ab@example.com\u0000',
  '"a b"@example.com',
  '"x,y"@example.com',
  'a<b@example.com',
  'a>b@example.com',
  'a(comment)@example.com',
  'a;b@example.com',
  'a:b@example.com',
  'a\\b@example.com',
  'a[b]@example.com',
  'a b@example.com',
  'a\tb@example.com',
  'ab@example.com\r\nBcc: x@evil.example',
  '.ab@example.com',
  'ab.@example.com',
  'a..b@example.com',
  'a@b@example.com',
  '@example.com',
  'ab@',
  'ab@example',
  'ab@-example.com',
  'ab@example-.com',
  'ab@exa_mple.com',
  'ab@example..com',
  'ab@example.com.',
  'ab@[127.0.0.1]',
  'ab@127.0.0.1',
  'é@example.com',
  `${'a'.repeat(65)}@example.com`,
  `ab@${'a'.repeat(64)}.com`,
]

const ACCEPTED = [
  'plain@example.com',
  'First.Last@Sub.Example.CO',
  'o\'brien+tag@example.com',
  "!#$%&'*+-/=?^_`{|}~@example.com",
  'a@x.example',
  `${'a'.repeat(64)}@example.com`,
  'ab@xn--bcher-kva.example',
]

describe('the email syntax check', () => {
  test('refuses everything outside atext and dot-separated labels', () => {
    for (const email of REFUSED) assert.equal(isSupportedEmail(email), false, JSON.stringify(email))
  })
  test('accepts ordinary and unusual-but-valid addresses', () => {
    for (const email of ACCEPTED) assert.equal(isSupportedEmail(email), true, JSON.stringify(email))
  })
})

describe('every method that takes an email', () => {
  let pds: TestPds
  before(async () => {
    pds = await startTestPds()
  })
  after(async () => {
    await pds?.close()
  })

  const UNSUPPORTED = 'This email address is not supported, please use a different email.'

  test('createAccount refuses a comma-separated or NUL-carrying address, and creates nothing', async () => {
    let n = 0
    for (const email of ['x,attacker@evil.example', 'a\u0000b@example.com', '"x y"@example.com', 'a..b@example.com']) {
      const handle = `emailsyn${n++}.test`
      const res = await call(pds, 'com.atproto.server.createAccount', { json: { handle, email, password: 'pw-secret-1234' } })
      assert.equal(res.status, 400, `${JSON.stringify(email)}: ${JSON.stringify(res.body)}`)
      assert.deepEqual(res.body, { error: 'InvalidRequest', message: UNSUPPORTED })
      assert.equal(pds.hearth.services.accounts.getAccount(handle, { includeDeactivated: true, includeTakenDown: true }), null)
    }
    const ok = await call(pds, 'com.atproto.server.createAccount', {
      json: { handle: 'emailsynok.test', email: "o'brien+tag@example.com", password: 'pw-secret-1234' },
    })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
  })

  test('updateEmail refuses it and keeps the old address', async () => {
    const acct = await pds.createAccount('emailupd')
    const before = (await acct.agent.com.atproto.server.getSession()).data.email
    const res = await call(pds, 'com.atproto.server.updateEmail', {
      json: { email: 'x,attacker@evil.example' },
      bearer: acct.agent.session?.accessJwt,
    })
    assert.equal(res.status, 400, JSON.stringify(res.body))
    assert.deepEqual(res.body, { error: 'InvalidRequest', message: UNSUPPORTED })
    assert.equal((await acct.agent.com.atproto.server.getSession()).data.email, before)
  })

  test('requestPasswordReset refuses it', async () => {
    for (const email of ['x,attacker@evil.example', 'a\u0000b@example.com']) {
      const res = await call(pds, 'com.atproto.server.requestPasswordReset', { json: { email } })
      assert.equal(res.status, 400, `${JSON.stringify(email)}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.error, 'InvalidRequest')
    }
    // A well-formed address still gets the same empty answer, known or not.
    const unknown = await call(pds, 'com.atproto.server.requestPasswordReset', { json: { email: 'nobody-here@example.com' } })
    assert.equal(unknown.status, 200)
  })

  test('admin updateAccountEmail refuses it and keeps the old address', async () => {
    const acct = await pds.createAccount('emailadm')
    const before = pds.hearth.services.accounts.getAccount(acct.did)?.email
    for (const email of ['x,attacker@evil.example', 'a\u0000b@example.com', 'not an email']) {
      const res = await call(pds, 'com.atproto.admin.updateAccountEmail', {
        json: { account: acct.did, email },
        auth: basicAuth(pds.adminPassword),
      })
      assert.equal(res.status, 400, `${JSON.stringify(email)}: ${JSON.stringify(res.body)}`)
      assert.deepEqual(res.body, { error: 'InvalidRequest', message: UNSUPPORTED })
    }
    assert.equal(pds.hearth.services.accounts.getAccount(acct.did)?.email, before)
    const ok = await call(pds, 'com.atproto.admin.updateAccountEmail', {
      json: { account: acct.did, email: 'new.address@example.com' },
      auth: basicAuth(pds.adminPassword),
    })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(pds.hearth.services.accounts.getAccount(acct.did)?.email, 'new.address@example.com')
  })
})
