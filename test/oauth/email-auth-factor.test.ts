// Email two-factor sign-in on the OAuth pages, over plain HTTP as a browser without JavaScript
// drives them, against a real Hearth that mails through a real SMTP server: the password step
// mails a code and shows a code page (the password is not echoed into it), a wrong code stays
// on that page, the right one finishes the sign-in and the consent gives the client a code it
// exchanges for tokens; a used or expired code, or a code posted from another device, does not
// sign in.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CookieJar } from '../helpers/cookie-jar.ts'
import type { TestPds } from '../helpers/pds.ts'
import type { SmtpCapture } from '../mail/smtp-capture.ts'
import { emailOf, expireEmailTokens, startMailingPds } from '../api/account-lifecycle/helpers.ts'
import { codeFrom, loopbackClientId, makeDpopKey, TestOAuthClient } from './helpers.ts'

const SCOPE = 'atproto transition:generic'

let pds: TestPds
let smtp: SmtpCapture
let al: Awaited<ReturnType<TestPds['createAccount']>>

before(async () => {
  ;({ pds, smtp } = await startMailingPds())
  al = await pds.createAccount('fa')
  await al.agent.com.atproto.server.requestEmailConfirmation()
  const token = (await smtp.next(emailOf(al.handle))).token as string
  await al.agent.com.atproto.server.confirmEmail({ email: emailOf(al.handle), token })
  await al.agent.com.atproto.server.updateEmail({ email: emailOf(al.handle), emailAuthFactor: true })
})
after(async () => {
  await pds?.close()
  await smtp?.close()
})

/** One browser: its cookies, and form posts to the authorization page. */
class Browser {
  readonly #jar = new CookieJar()

  async get(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(pds.url + path, { headers: { cookie: this.#jar.header() }, redirect: 'manual' })
    this.#jar.store(res)
    return { status: res.status, body: await res.text() }
  }

  async post(fields: Record<string, string>): Promise<{ status: number; body: string; location: string | null }> {
    const res = await fetch(`${pds.url}/oauth/authorize`, {
      method: 'POST',
      headers: { cookie: this.#jar.header(), origin: pds.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: this.#jar.csrf(), ...fields }).toString(),
      redirect: 'manual',
    })
    this.#jar.store(res)
    return { status: res.status, body: await res.text(), location: res.headers.get('location') }
  }
}

async function start(browser: Browser) {
  const client = new TestOAuthClient(pds.url, loopbackClientId(SCOPE), await makeDpopKey())
  const { res, verifier } = await client.par(SCOPE)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const requestUri = res.body.request_uri as string
  const page = await browser.get(`/oauth/authorize?client_id=${encodeURIComponent(client.clientId)}&request_uri=${encodeURIComponent(requestUri)}`)
  assert.equal(page.status, 200)
  const base = { client_id: client.clientId, request_uri: requestUri }
  const password = () => browser.post({ ...base, action: 'sign-in', identifier: al.handle, password: al.password, remember: '1' })
  const code = (value: string) => browser.post({ ...base, action: 'sign-in-code', did: al.did, code: value, remember: '1' })
  return { client, verifier, base, password, code }
}

describe('OAuth sign-in with email two-factor sign-in on', () => {
  it('asks for the mailed code after the password, and the right code finishes the authorization', async () => {
    const browser = new Browser()
    const flow = await start(browser)
    const step = await flow.password()
    assert.equal(step.status, 200)
    assert.match(step.body, /<h1>Enter your sign-in code<\/h1>/)
    assert.match(step.body, /<input type="text" id="code" name="code" autocomplete="one-time-code"/)
    assert.match(step.body, /f\*\*\*t@e\*\*\*m/, 'says where the code went, obfuscated')
    assert.ok(!step.body.includes(al.password), 'the password is not put back into the page')
    assert.doesNotMatch(step.body, /<script/i)
    const mail = await smtp.next(emailOf(al.handle))
    assert.equal(mail.subject, 'Sign-in Confirmation')

    const wrong = await flow.code('AAAAA-BBBBB')
    assert.equal(wrong.status, 401)
    assert.match(wrong.body, /Wrong code/)
    assert.match(wrong.body, /name="code"/, 'still the code page')

    const ok = await flow.code(mail.token!.toLowerCase())
    assert.equal(ok.status, 200)
    assert.match(ok.body, /<h1>Authorize /, 'the consent page')
    const accepted = await browser.post({ ...flow.base, action: 'accept', did: al.did })
    assert.equal(accepted.status, 303)
    const tokens = await flow.client.exchange(codeFrom(accepted.location!), flow.verifier)
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body))
    assert.equal(tokens.body.sub, al.did)

    // The code is used up: posting it again (new request, same device) does not sign in.
    const again = await start(browser)
    assert.equal((await again.password()).status, 200)
    const fresh = await smtp.next(emailOf(al.handle))
    assert.notEqual(fresh.token, mail.token)
    const reused = await again.code(mail.token!)
    assert.equal(reused.status, 401)
    assert.match(reused.body, /Wrong code/)
  })

  it('an expired code sends the browser back to the password', async () => {
    const browser = new Browser()
    const flow = await start(browser)
    assert.equal((await flow.password()).status, 200)
    const token = (await smtp.next(emailOf(al.handle))).token as string
    expireEmailTokens(pds, al.did)
    const res = await flow.code(token)
    assert.equal(res.status, 401)
    assert.match(res.body, /This code has expired/)
    assert.match(res.body, /<h1>Sign in<\/h1>/)
    assert.match(res.body, /name="password"/)
  })

  it('a code posted from a device that did not give the password does not sign in', async () => {
    const first = new Browser()
    const flow = await start(first)
    assert.equal((await flow.password()).status, 200)
    const token = (await smtp.next(emailOf(al.handle))).token as string
    const other = new Browser()
    const otherFlow = await start(other)
    const res = await otherFlow.code(token)
    assert.equal(res.status, 401)
    assert.match(res.body, /Sign in again/)
    // The code is still good on the device that asked for it.
    const ok = await flow.code(token)
    assert.equal(ok.status, 200)
    assert.match(ok.body, /<h1>Authorize /)
  })
})
