// The account holder's settings on /account over plain HTTP form posts, against a real Hearth
// mailing through a real SMTP capture: app passwords, password change, email confirmation and
// change, handle change, deactivation, export and deletion, each checked by the server state it
// leaves (rows, sessions, events), and each bad input (CSRF, wrong password, taken handle or
// email, wrong or expired code, a second submit) answered with a clear message, never a 500.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import type { TestPds } from '../helpers/pds.ts'
import type { SmtpCapture } from '../mail/smtp-capture.ts'
import { emailOf, expireEmailTokens, startMailingPds } from '../api/account-lifecycle/helpers.ts'
import { HandleResolver } from '../../src/identity/handle-resolver.ts'
import { startServer } from '../identity/helpers.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'

let pds: TestPds
let smtp: SmtpCapture
const db = () => pds.hearth.services.accounts.db

async function get(jar: CookieJar, path: string): Promise<{ res: Response; body: string }> {
  const res = await fetch(pds.url + path, { headers: { cookie: jar.header() }, redirect: 'manual' })
  jar.store(res)
  return { res, body: await res.text() }
}

async function post(jar: CookieJar, fields: Record<string, string>, opts: { csrf?: string | null } = {}): Promise<{ res: Response; body: string }> {
  const csrf = opts.csrf === undefined ? jar.csrf() : opts.csrf
  const res = await fetch(pds.url + '/account', {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...(csrf === null ? {} : { csrf }), ...fields }).toString(),
    redirect: 'manual',
  })
  jar.store(res)
  return { res, body: await res.text() }
}

async function signedIn(identifier: string, password: string): Promise<CookieJar> {
  const jar = new CookieJar()
  await get(jar, '/account')
  const { res } = await post(jar, { action: 'sign-in', identifier, password })
  assert.equal(res.status, 303)
  return jar
}

/** Posts and expects the page again with this status and text in an alert or status line. */
async function expectMessage(jar: CookieJar, fields: Record<string, string>, status: number, text: RegExp): Promise<string> {
  const { res, body } = await post(jar, fields)
  assert.equal(res.status, status, body.match(/class="(error|notice)"[^>]*>([^<]*)/)?.[2] ?? body.slice(0, 300))
  assert.match(body, text)
  return body
}

async function expectRedirect(jar: CookieJar, fields: Record<string, string>, done: string): Promise<void> {
  const { res, body } = await post(jar, fields)
  assert.equal(res.status, 303, body.match(/class="error"[^>]*>([^<]*)/)?.[1] ?? body.slice(0, 300))
  assert.equal(res.headers.get('location'), `/account?done=${done}`)
}

type Row = Record<string, unknown>
const accountRow = (did: string) =>
  db().prepare(`SELECT a."email", a."emailConfirmedAt", actor."handle", actor."deactivatedAt" FROM "actor" LEFT JOIN "account" a ON a."did" = actor."did" WHERE actor."did" = ?`).get(did) as Row | undefined

before(async () => {
  ;({ pds, smtp } = await startMailingPds())
})

after(async () => {
  await pds.close()
  await smtp.close()
})

describe('account settings page', () => {
  it('refuses an action without a valid CSRF token, or for an account not signed in here', async () => {
    const alice = await pds.createAccount('csrf')
    const other = await pds.createAccount('other')
    const jar = await signedIn(alice.handle, alice.password)
    for (const csrf of [null, 'f'.repeat(32)]) {
      const { res, body } = await post(jar, { action: 'create-app-password', did: alice.did, name: 'sneaky' }, { csrf })
      assert.equal(res.status, 403)
      assert.match(body, /The form expired or was not sent from this site/)
    }
    const { res, body } = await post(jar, { action: 'create-app-password', did: other.did, name: 'sneaky' })
    assert.equal(res.status, 403)
    assert.match(body, /Sign in to this account on this device first/)
    assert.equal(pds.hearth.services.accounts.listAppPasswords(alice.did).length, 0)
    assert.equal(pds.hearth.services.accounts.listAppPasswords(other.did).length, 0)
  })

  it('creates a privileged app password shown once, refuses a duplicate name, revokes it and its sessions', async () => {
    const alice = await pds.createAccount('apppw')
    const jar = await signedIn(alice.handle, alice.password)
    const page = await expectMessage(jar, { action: 'create-app-password', did: alice.did, name: 'My phone', privileged: 'on' }, 200, /App password “My phone” created/)
    const secret = page.match(/<code class="secret"[^>]*>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})<\/code>/)?.[1]
    assert.ok(secret, 'the new password is on the page')
    assert.deepEqual(
      pds.hearth.services.accounts.listAppPasswords(alice.did).map((p) => [p.name, p.privileged]),
      [['My phone', true]],
    )
    // It signs in as an app password.
    const app = new AtpAgent({ service: pds.url })
    await app.login({ identifier: alice.handle, password: secret })
    // Shown once: the next page load has the name but not the secret.
    const { body: later } = await get(jar, '/account')
    assert.match(later, /My phone/)
    assert.ok(!later.includes(secret))

    await expectMessage(jar, { action: 'create-app-password', did: alice.did, name: 'My phone' }, 400, /already have an app password named “My phone”/)
    await expectMessage(jar, { action: 'create-app-password', did: alice.did, name: '  ' }, 400, /Give the app password a name/)

    await expectRedirect(jar, { action: 'revoke-app-password', did: alice.did, name: 'My phone' }, 'app-password-revoked')
    assert.equal(pds.hearth.services.accounts.listAppPasswords(alice.did).length, 0)
    await assert.rejects(app.com.atproto.server.getSession(), /Token has been revoked|expired|Invalid/i)
    // A second click on Revoke: said plainly.
    await expectMessage(jar, { action: 'revoke-app-password', did: alice.did, name: 'My phone' }, 400, /no app password named “My phone”/)
  })

  it('lists password and app-password sessions and ends one; a second click is told plainly', async () => {
    const alice = await pds.createAccount('sessions')
    const created = await alice.agent.com.atproto.server.createAppPassword({ name: 'Reader' })
    const app = new AtpAgent({ service: pds.url })
    await app.login({ identifier: alice.handle, password: created.data.password })
    const jar = await signedIn(alice.handle, alice.password)
    const { body } = await get(jar, '/account')
    const ids = [...body.matchAll(/name="session_id" value="([^"]+)"/g)].map((m) => m[1]!)
    assert.equal(ids.length, 2, 'the signup session and the app-password session')
    assert.match(body, /App password “Reader”/)
    assert.match(body, /Password sessions \(2\)/)
    const appId = ids.find((id) => pds.hearth.services.accounts.getSession(id)?.appPasswordName === 'Reader')
    assert.ok(appId)
    await expectRedirect(jar, { action: 'revoke-password-session', did: alice.did, session_id: appId }, 'password-session-revoked')
    await assert.rejects(app.com.atproto.server.getSession())
    await alice.agent.com.atproto.server.getSession()
    await expectMessage(jar, { action: 'revoke-password-session', did: alice.did, session_id: appId }, 400, /No such session/)
    // Another account's session cannot be ended from here.
    const bob = await pds.createAccount('sessbob')
    const bobId = (pds.hearth.services.accounts.db.prepare(`SELECT "id" FROM "refresh_token" WHERE "did" = ?`).get(bob.did) as { id: string }).id
    await expectMessage(jar, { action: 'revoke-password-session', did: alice.did, session_id: bobId }, 400, /No such session/)
    await bob.agent.com.atproto.server.getSession()
  })

  it('changes the password with the current one, ending other sessions but not this device', async () => {
    const alice = await pds.createAccount('pw')
    const jar = await signedIn(alice.handle, alice.password)
    await expectMessage(jar, { action: 'change-password', did: alice.did, current_password: 'wrong', new_password: 'n3w-pass', new_password_again: 'n3w-pass' }, 401, /current password is not right/)
    await expectMessage(jar, { action: 'change-password', did: alice.did, current_password: alice.password, new_password: 'n3w-pass', new_password_again: 'other' }, 400, /not the same/)
    // Nothing changed so far.
    await alice.agent.com.atproto.server.getSession()

    await expectRedirect(jar, { action: 'change-password', did: alice.did, current_password: alice.password, new_password: 'n3w-pass', new_password_again: 'n3w-pass' }, 'password-changed')
    await assert.rejects(alice.agent.com.atproto.server.getSession())
    await assert.rejects(new AtpAgent({ service: pds.url }).login({ identifier: alice.handle, password: alice.password }))
    await new AtpAgent({ service: pds.url }).login({ identifier: alice.handle, password: 'n3w-pass' })
    const { body } = await get(jar, '/account?done=password-changed')
    assert.match(body, /Password changed/)
    assert.match(body, /Change password/, 'still signed in on this device')
  })

  it('confirms the email with the emailed code; wrong, expired and repeated codes are told apart', async () => {
    const alice = await pds.createAccount('mail')
    const jar = await signedIn(alice.handle, alice.password)
    await expectMessage(jar, { action: 'request-email-confirmation', did: alice.did }, 200, /We emailed a code to/)
    const first = await smtp.next(emailOf(alice.handle))
    assert.ok(first.token)
    await expectMessage(jar, { action: 'confirm-email', did: alice.did, code: 'AAAAA-AAAAA' }, 400, /That code is not right/)
    expireEmailTokens(pds, alice.did)
    await expectMessage(jar, { action: 'confirm-email', did: alice.did, code: first.token }, 400, /That code has expired/)
    assert.equal(accountRow(alice.did)?.emailConfirmedAt, null)

    await expectMessage(jar, { action: 'request-email-confirmation', did: alice.did }, 200, /We emailed a code/)
    const second = await smtp.next(emailOf(alice.handle))
    await expectRedirect(jar, { action: 'confirm-email', did: alice.did, code: second.token! }, 'email-confirmed')
    assert.ok(accountRow(alice.did)?.emailConfirmedAt)
    await expectMessage(jar, { action: 'confirm-email', did: alice.did, code: second.token! }, 200, /already confirmed/)
  })

  it('changes a confirmed email only with the code sent to the current address, and not to a taken one', async () => {
    const alice = await pds.createAccount('chg')
    const bob = await pds.createAccount('taken')
    pds.hearth.services.accounts.setEmailConfirmedAt(alice.did)
    const jar = await signedIn(alice.handle, alice.password)
    await expectMessage(jar, { action: 'update-email', did: alice.did, email: 'new@example.com', code: '' }, 400, /Enter the code we emailed/)
    await expectMessage(jar, { action: 'request-email-update', did: alice.did }, 200, /We emailed a code to your current address/)
    const mail = await smtp.next(emailOf(alice.handle))
    await expectMessage(jar, { action: 'update-email', did: alice.did, email: emailOf(bob.handle), code: mail.token! }, 400, /already used by another account/)
    await expectMessage(jar, { action: 'update-email', did: alice.did, email: 'not-an-address', code: mail.token! }, 400, /email address/i)
    await expectRedirect(jar, { action: 'update-email', did: alice.did, email: 'Alice.New@example.com', code: mail.token! }, 'email-updated')
    const row = accountRow(alice.did)
    assert.equal(row?.email, 'alice.new@example.com')
    assert.equal(row?.emailConfirmedAt, null)
    // The code worked once; the new address is unconfirmed, so (as updateEmail) no code is needed now.
    assert.equal((db().prepare(`SELECT count(*) AS n FROM "email_token" WHERE "did" = ?`).get(alice.did) as { n: number }).n, 0)
    await expectRedirect(jar, { action: 'update-email', did: alice.did, email: 'third@example.com' }, 'email-updated')
    assert.equal(accountRow(alice.did)?.email, 'third@example.com')
  })

  it('changes the handle under the service domain (PLC and #identity event), refuses taken and bad ones, checks an own domain', async () => {
    const alice = await pds.createAccount('hdl')
    const bob = await pds.createAccount('hdlbob')
    const jar = await signedIn(alice.handle, alice.password)
    const before = pds.hearth.services.sequencer.lastSeq() ?? 0
    await expectRedirect(jar, { action: 'update-handle', did: alice.did, kind: 'service', name: 'alice-renamed', domain: '.test' }, 'handle-updated')
    assert.equal(accountRow(alice.did)?.handle, 'alice-renamed.test')
    const events = pds.hearth.services.sequencer.range(before, 100).filter((e) => e.did === alice.did)
    assert.deepEqual(events.map((e) => e.eventType), ['identity'])
    assert.equal((await pds.hearth.services.plc.getDocumentData(alice.did)).alsoKnownAs[0], 'at://alice-renamed.test')

    await expectMessage(jar, { action: 'update-handle', did: alice.did, kind: 'service', name: bob.handle.replace(/\.test$/, ''), domain: '.test' }, 400, new RegExp(`The handle ${bob.handle.replace('.', '\\.')} is already taken`))
    await expectMessage(jar, { action: 'update-handle', did: alice.did, kind: 'service', name: 'ab', domain: '.test' }, 400, /too short/)
    await expectMessage(jar, { action: 'update-handle', did: alice.did, kind: 'service', name: 'admin', domain: '.test' }, 400, /reserved/)
    await expectMessage(jar, { action: 'update-handle', did: alice.did, kind: 'own', handle: 'nope nope' }, 400, /not a valid handle/)
    assert.equal(accountRow(alice.did)?.handle, 'alice-renamed.test')
  })

  it('checks an own domain proven over HTTPS and switches to it', async () => {
    const alice = await pds.createAccount('owndomain')
    const jar = await signedIn(alice.handle, alice.password)
    const domain = 'alice.own-domain.com'
    // The domain's web server: /.well-known/atproto-did names alice once she has set it up.
    let published: string | null = null
    const web = await startServer((req, res) => {
      if (req.url === '/.well-known/atproto-did' && published) res.writeHead(200, { 'content-type': 'text/plain' }).end(`${published}\n`)
      else res.writeHead(404).end()
    })
    const original = pds.hearth.services.handleResolver
    pds.hearth.services.handleResolver = new HandleResolver({
      allowPrivate: true,
      resolveAddress: async () => [{ address: '127.0.0.1', family: 4 }],
      resolveTxt: async () => {
        throw Object.assign(new Error('no TXT'), { code: 'ENODATA' })
      },
      wellKnownUrl: (h) => `http://${h}:${web.port}/.well-known/atproto-did`,
    })
    try {
      await expectMessage(jar, { action: 'check-handle', did: alice.did, handle: 'alice.own-domain.example' }, 400, /not a valid handle/)
      // Not set up yet: the check says so and shows what to publish; switching is refused.
      const check = await expectMessage(jar, { action: 'check-handle', did: alice.did, handle: domain }, 200, /does not point to any account yet/)
      assert.match(check, /_atproto\.alice\.own-domain\.com/)
      assert.match(check, /https:\/\/alice\.own-domain\.com\/\.well-known\/atproto-did/)
      assert.match(check, new RegExp(`did=${alice.did}`))
      await expectMessage(jar, { action: 'update-handle', did: alice.did, kind: 'own', handle: domain }, 400, /does not point to your account yet/)
      assert.equal(accountRow(alice.did)?.handle, alice.handle)
      published = 'did:plc:someoneelse000000000000'
      await expectMessage(jar, { action: 'check-handle', did: alice.did, handle: domain }, 200, /points to another account/)
      published = alice.did
      const ok = await expectMessage(jar, { action: 'check-handle', did: alice.did, handle: domain.toUpperCase() }, 200, /points to your account. You can switch to it now/)
      assert.match(ok, new RegExp(`value="${domain.replace(/\./g, '\\.')}"`), 'the checked domain is filled in for the switch')
      await expectRedirect(jar, { action: 'update-handle', did: alice.did, kind: 'own', handle: domain }, 'handle-updated')
      assert.equal(accountRow(alice.did)?.handle, domain)
      assert.equal((await pds.hearth.services.plc.getDocumentData(alice.did)).alsoKnownAs[0], `at://${domain}`)
    } finally {
      pds.hearth.services.handleResolver = original
      await web.close()
    }
  })

  it('exports the repository as the same CAR getRepo serves', async () => {
    const alice = await pds.createAccount('export')
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'hi', createdAt: new Date().toISOString() } })
    const jar = await signedIn(alice.handle, alice.password)
    const res = await fetch(`${pds.url}/account/repo.car?did=${encodeURIComponent(alice.did)}`, { headers: { cookie: jar.header() } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car')
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="export\d+\.test-[a-z0-9]+\.car"$/)
    const car = Buffer.from(await res.arrayBuffer())
    const official = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(alice.did)}`)
    assert.ok(car.equals(Buffer.from(await official.arrayBuffer())))
    const stranger = await fetch(`${pds.url}/account/repo.car?did=${encodeURIComponent(alice.did)}`)
    assert.equal(stranger.status, 403)
  })

  it('deactivates with the password (an #account event) and reactivates', async () => {
    const alice = await pds.createAccount('deact')
    const jar = await signedIn(alice.handle, alice.password)
    await expectMessage(jar, { action: 'deactivate', did: alice.did, password: 'wrong' }, 401, /password is not right/)
    assert.equal(accountRow(alice.did)?.deactivatedAt, null)
    const before = pds.hearth.services.sequencer.lastSeq() ?? 0
    await expectRedirect(jar, { action: 'deactivate', did: alice.did, password: alice.password }, 'deactivated')
    assert.ok(accountRow(alice.did)?.deactivatedAt)
    assert.deepEqual(pds.hearth.services.sequencer.range(before, 100).filter((e) => e.did === alice.did).map((e) => e.eventType), ['account'])
    const { body } = await get(jar, '/account')
    assert.match(body, /Reactivate my account/)
    await expectMessage(jar, { action: 'deactivate', did: alice.did, password: alice.password }, 200, /already deactivated/)
    await expectRedirect(jar, { action: 'activate', did: alice.did }, 'activated')
    assert.equal(accountRow(alice.did)?.deactivatedAt, null)
    await expectMessage(jar, { action: 'activate', did: alice.did }, 200, /already active/)
  })

  it('deletes the account with the emailed code and the password; a second submit is told plainly', async () => {
    const alice = await pds.createAccount('del')
    const jar = await signedIn(alice.handle, alice.password)
    await expectMessage(jar, { action: 'delete', did: alice.did, code: '', password: alice.password }, 400, /Enter the code from the deletion email/)
    await expectMessage(jar, { action: 'request-delete', did: alice.did }, 200, /We emailed a deletion code/)
    const mail = await smtp.next(emailOf(alice.handle))
    await expectMessage(jar, { action: 'delete', did: alice.did, code: mail.token!, password: 'wrong' }, 401, /password is not right/)
    await expectMessage(jar, { action: 'delete', did: alice.did, code: 'AAAAA-AAAAA', password: alice.password }, 400, /That code is not right/)
    assert.ok(accountRow(alice.did))
    await expectRedirect(jar, { action: 'delete', did: alice.did, code: mail.token!, password: alice.password }, 'deleted')
    assert.equal(accountRow(alice.did), undefined)
    const { res, body } = await post(jar, { action: 'delete', did: alice.did, code: mail.token!, password: alice.password })
    assert.equal(res.status, 403)
    assert.match(body, /Sign in to this account on this device first/)
  })

  it('turns sign-in codes by email on (confirmed address only) and off (with a mailed code)', async () => {
    const alice = await pds.createAccount('factor')
    const accounts = pds.hearth.services.accounts
    const jar = await signedIn(alice.handle, alice.password)
    await expectMessage(jar, { action: 'enable-email-2fa', did: alice.did }, 400, /Confirm your email address first/)
    assert.equal(accounts.getEmailAuthFactor(alice.did), null)
    accounts.setEmailConfirmedAt(alice.did)
    await expectRedirect(jar, { action: 'enable-email-2fa', did: alice.did }, 'email-2fa-on')
    assert.ok(accounts.getEmailAuthFactor(alice.did))
    // createSession now wants the code, as the API has it.
    await assert.rejects(new AtpAgent({ service: pds.url }).login({ identifier: alice.handle, password: alice.password }), /AuthFactorTokenRequired|sign in code|token/i)
    await smtp.next(emailOf(alice.handle))
    // Signing in on /account now takes the password, then the mailed code.
    const other = new CookieJar()
    await get(other, '/account')
    const step = await post(other, { action: 'sign-in', identifier: alice.handle, password: alice.password })
    assert.equal(step.res.status, 200)
    assert.match(step.body, /Enter your sign-in code/)
    assert.ok(!step.body.includes(alice.password), 'the password is not echoed back')
    const signInMail = await smtp.next(emailOf(alice.handle))
    const wrongCode = await post(other, { action: 'sign-in-code', did: alice.did, code: 'AAAAA-AAAAA' })
    assert.equal(wrongCode.res.status, 401)
    assert.match(wrongCode.body, /Wrong code/)
    const done = await post(other, { action: 'sign-in-code', did: alice.did, code: signInMail.token! })
    assert.equal(done.res.status, 303)
    assert.match((await get(other, '/account')).body, /Change password/)
    // The code worked once: a replay from another browser gets nowhere.
    const thief = new CookieJar()
    await get(thief, '/account')
    const replay = await post(thief, { action: 'sign-in-code', did: alice.did, code: signInMail.token! })
    assert.equal(replay.res.status, 401)
    assert.ok(!(await get(thief, '/account')).body.includes('Change password'))
    // Off: first a code is mailed, then it is asked for.
    const asked = await expectMessage(jar, { action: 'disable-email-2fa', did: alice.did }, 200, /We emailed a code/)
    assert.match(asked, /Turn sign-in codes off/)
    const mail = await smtp.next(emailOf(alice.handle))
    await expectMessage(jar, { action: 'disable-email-2fa', did: alice.did, code: 'AAAAA-AAAAA' }, 400, /That code is not right/)
    assert.ok(accounts.getEmailAuthFactor(alice.did))
    await expectRedirect(jar, { action: 'disable-email-2fa', did: alice.did, code: mail.token! }, 'email-2fa-off')
    assert.equal(accounts.getEmailAuthFactor(alice.did), null)
    await expectMessage(jar, { action: 'disable-email-2fa', did: alice.did, code: mail.token! }, 200, /already off/)
  })

  it('refuses every change for an account taken down after it signed in here', async () => {
    const alice = await pds.createAccount('takendown')
    const jar = await signedIn(alice.handle, alice.password)
    pds.hearth.services.accounts.setTakedown(alice.did, { applied: true, ref: 'test' })
    const attempts: Array<Record<string, string>> = [
      { action: 'create-app-password', name: 'x' },
      { action: 'update-handle', kind: 'service', name: 'takenback', domain: '.test' },
      { action: 'request-email-confirmation' },
      { action: 'enable-email-2fa' },
    ]
    for (const fields of attempts) {
      const { res, body } = await post(jar, { did: alice.did, ...fields })
      assert.ok(res.status === 403 || res.status === 401, `${fields.action}: ${res.status}`)
      assert.match(body, /taken down|Sign in/)
    }
    assert.equal(pds.hearth.services.accounts.listAppPasswords(alice.did).length, 0)
  })

  it('answers an unknown action with a clear 400', async () => {
    const alice = await pds.createAccount('unknown')
    const jar = await signedIn(alice.handle, alice.password)
    for (const action of ['format-disk', 'constructor', 'hasOwnProperty', '__proto__', 'toString', '']) {
      await expectMessage(jar, { action, did: alice.did }, 400, /Unknown action/)
    }
  })
})
