// Moving an account in on the home page, in Debian's Chromium with JavaScript on and off: an
// account with posts, images, a profile and preferences moves from one Hearth to another (two
// servers sharing one PLC directory, each with its own keys). The page shows each step, refreshes
// itself while the server works, asks for the code the old server "emails" (read from its
// database), and ends with the account active here, the DID document naming this server, the old
// account deactivated and the events sequenced. Then the same with the new server restarted
// mid-move (resumed from the page after signing in again), the old server down when the code is
// sent, a browser that lost its cookie, and bad input: a wrong password, an
// unknown handle, a wrong and an expired code, a post without the CSRF token, a second click.
// The old server mails through a real SMTP server: an account with email 2FA on moves after the
// page asks for the sign-in code it mailed. A move cancelled from its page leaves the old
// account as it was and nothing of it here; after activation a cancel is refused.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { type Browser, chromium, type Page } from 'playwright-core'
import { startReferencePlc } from '../identity/helpers.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { emailToken, sequencedEvents } from '../migration/helpers.ts'
import { assertServes, Migration, type Mover, newMover, type Side, snapshotRecords, session } from '../migration/migration-client.ts'
import { MoveInStore } from '../../src/account/move-in-store.ts'
import { type SmtpCapture, startSmtpCapture } from '../mail/smtp-capture.ts'

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'
const chromiumSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent (apt-get install chromium, or set HEARTH_CHROMIUM): move-in page browser test not run`

const OLD_DID = 'did:web:old.move.test'
const NEW_DID = 'did:web:new.move.test'

let plc: { url: string; close(): Promise<void> }
let oldPds: TestPds
let newPds: TestPds
let oldSide: Side
let browser: Browser
let smtp: SmtpCapture

before(async () => {
  if (chromiumSkip) return
  ;[plc, smtp] = await Promise.all([startReferencePlc(), startSmtpCapture()])
  ;[oldPds, newPds] = await Promise.all([
    startTestPds({ env: { PDS_SERVICE_DID: OLD_DID, PDS_DID_PLC_URL: plc.url, PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: 'noreply@old.move.test' } }),
    startTestPds({
      env: {
        PDS_SERVICE_DID: NEW_DID,
        PDS_DID_PLC_URL: plc.url,
        PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'b'.repeat(63) + '2',
        PDS_JWT_SECRET: 'another-jwt-secret-for-the-new-host-0123',
      },
    }),
  ])
  oldSide = { url: oldPds.url, dataDir: oldPds.dataDir, serviceDid: OLD_DID }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  await browser?.close()
  await Promise.all([oldPds?.close(), newPds?.close()])
  await plc?.close()
  await smtp?.close()
})

async function submit(page: Page, button: ReturnType<Page['getByRole']>): Promise<void> {
  await Promise.all([page.waitForNavigation(), button.click()])
}

async function openPage(javaScriptEnabled: boolean): Promise<{ page: Page; csp: string[]; close(): Promise<void> }> {
  const context = await browser.newContext({ javaScriptEnabled })
  const page = await context.newPage()
  const csp: string[] = []
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) csp.push(m.text())
  })
  return { page, csp, close: () => context.close() }
}

async function startMove(page: Page, m: Mover, password = m.password): Promise<void> {
  const res = await page.goto(`${newPds.url}/`)
  assert.equal(res?.status(), 200)
  await page.getByLabel('Handle or DID').fill(m.did)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByLabel('Handle', { exact: true }).fill(m.handle)
  await page.getByLabel('Email', { exact: true }).fill(m.email)
  await submit(page, page.getByRole('button', { name: 'Move my account here' }))
}

/** Waits (through the page's own refreshes) until the code form shows. */
async function waitForCodeForm(page: Page): Promise<void> {
  await page.getByLabel('Code from the email').waitFor({ timeout: 30_000 })
}

function moveRow(did: string) {
  return new MoveInStore(newPds.hearth.services.accounts.db).get(did)
}

async function oldStatus(m: Mover) {
  const agent = await session(oldPds.url, m)
  return (await agent.com.atproto.server.checkAccountStatus()).data
}

/** `lostSessions`: sessions here the move held when the server restarted (they expire unused). */
async function assertMovedIn(m: Mover, records: Map<string, string>, lostSessions = 0): Promise<void> {
  assert.equal(moveRow(m.did)?.state, 'done')
  assert.equal(moveRow(m.did)?.step, 'done')
  // The move's own sessions here are ended with it.
  const sessionsHere = () =>
    (newPds.hearth.services.accounts.db.prepare(`SELECT count(*) AS n FROM "refresh_token" WHERE "did" = ?`).get(m.did) as { n: number }).n
  for (let i = 0; i < 50 && sessionsHere() > lostSessions; i++) await new Promise((r) => setTimeout(r, 50))
  assert.equal(sessionsHere(), lostSessions)
  // Records, blobs, preferences, the DID document naming the new server, a write that verifies.
  await assertServes(newPds.url, m, records, plc.url)
  assert.equal((await oldStatus(m)).activated, false)
  const events = sequencedEvents(join(newPds.dataDir, 'sequencer.sqlite'), m.did).map((e) =>
    e.type === '#account' ? `#account ${e.body.active ? 'active' : e.body.status}` : e.type,
  )
  assert.ok(events.includes('#identity'), events.join(', '))
  assert.ok(events.includes('#account active'), events.join(', '))
  assert.ok(events.indexOf('#account active') > events.lastIndexOf('#account deactivated') || !events.includes('#account deactivated'), events.join(', '))
}

for (const javaScriptEnabled of [true, false]) {
  describe(`move-in page, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, { skip: chromiumSkip }, () => {
    it('moves an account from another Hearth: every step shown, the code asked for, the account active here', async () => {
      const m = await newMover(oldSide, javaScriptEnabled ? 'jsmove' : 'nojsmove')
      const records = await snapshotRecords(await session(oldPds.url, m), m.did)
      const { page, csp, close } = await openPage(javaScriptEnabled)
      await startMove(page, m)
      await waitForCodeForm(page)
      // Every step before the code is done, the blobs counted, the rest still to do.
      const states = await page.locator('ol.steps li').evaluateAll((lis) => lis.map((li) => `${li.getAttribute('data-step')}=${li.getAttribute('data-state')}`))
      assert.deepEqual(states, [
        'started=done', 'created=done', 'imported=done', 'blobs=done', 'preferences=done', 'code-sent=done',
        'identity=next', 'activated=to do', 'done=to do',
      ])
      assert.match((await page.locator('li[data-step="blobs"]').textContent()) ?? '', /2 of 2/)
      // Still inactive here, still active there.
      const here = newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true })
      assert.ok(here?.deactivatedAt)
      assert.equal((await oldStatus(m)).activated, true)

      // A wrong code: a message, nothing changed.
      await page.getByLabel('Code from the email').fill('WRONG-CODE1')
      await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
      assert.match((await page.locator('.error').textContent()) ?? '', /old server refused a step: .*(token|Token)/)
      assert.equal(moveRow(m.did)?.step, 'code-sent')

      await page.getByLabel('Code from the email').fill(emailToken(oldPds.dataDir, m.did, 'plc_operation'))
      await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
      await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
      await assertMovedIn(m, records)
      assert.deepEqual(csp, [])
      await close()
    })
  })
}

describe('move-in page, interrupted', { skip: chromiumSkip }, () => {
  it('resumes after the server restarts mid-move (signing in again), and after a restart while waiting for the code', async () => {
    const m = await newMover(oldSide, 'restartmove')
    const records = await snapshotRecords(await session(oldPds.url, m), m.did)
    const { page, close } = await openPage(false)
    // The form sent from the page's browser (its cookies), the redirect not followed (the page it
    // leads to waits for short steps to end): the server stops while the steps after
    // createAccount run, whichever one it was in.
    await page.goto(`${newPds.url}/`)
    const csrf = await page.locator('input[name="csrf"]').first().inputValue()
    const started = await page.request.post(`${newPds.url}/`, {
      form: { csrf, action: 'start', identifier: m.did, old_password: m.password, handle: m.handle, email: m.email },
      maxRedirects: 0,
    })
    assert.equal(started.status(), 303)
    await newPds.restart()
    assert.equal(moveRow(m.did)?.state, 'stopped')
    assert.ok(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true })?.deactivatedAt)
    await page.goto(`${newPds.url}/`)
    assert.match((await page.locator('.error').textContent()) ?? '', /server restarted/)
    await page.getByLabel('Password on your old server').fill(m.password)
    await submit(page, page.getByRole('button', { name: 'Sign in and continue' }))
    await waitForCodeForm(page)

    // Stopped again while waiting for the code: the code form asks to sign in first.
    await newPds.restart()
    await page.goto(`${newPds.url}/`)
    assert.equal(await page.getByLabel('Code from the email').count(), 0)
    await page.getByLabel('Password on your old server').fill(m.password)
    await submit(page, page.getByRole('button', { name: 'Sign in and continue' }))
    await waitForCodeForm(page)
    await page.getByLabel('Code from the email').fill(emailToken(oldPds.dataDir, m.did, 'plc_operation'))
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    // Each restart lost one session here (createAccount's, then the resumed sign-in's); the last one is ended.
    await assertMovedIn(m, records, 2)
    await close()
  })

  it('the PLC operation went through but the server stopped before recording it: resumed without a new code', async () => {
    const m = await newMover(oldSide, 'plcmove')
    const records = await snapshotRecords(await session(oldPds.url, m), m.did)
    const { page, close } = await openPage(false)
    await startMove(page, m)
    await waitForCodeForm(page)
    // The operation signed and submitted as the page would, then the server stops before its next step.
    const newSide: Side = { url: newPds.url, dataDir: newPds.dataDir, serviceDid: NEW_DID }
    const client = new Migration(m, oldSide, newSide)
    await client.runAll(['signPlc', 'submitPlc'])
    await newPds.restart()
    assert.equal(moveRow(m.did)?.step, 'code-sent')
    await page.goto(`${newPds.url}/`)
    await page.getByLabel('Password on your old server').fill(m.password)
    await submit(page, page.getByRole('button', { name: 'Sign in and continue' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    // Left: the session the restart lost, and the test client's own.
    await assertMovedIn(m, records, 2)
    await close()
  })

  it('the old server down when the code is sent: a message, nothing lost, and the same code works once it is back', async () => {
    const m = await newMover(oldSide, 'downmove')
    const records = await snapshotRecords(await session(oldPds.url, m), m.did)
    const { page, close } = await openPage(false)
    await startMove(page, m)
    await waitForCodeForm(page)
    const code = emailToken(oldPds.dataDir, m.did, 'plc_operation')
    await oldPds.hearth.close()
    try {
      await page.getByLabel('Code from the email').fill(code)
      await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
      assert.match((await page.locator('.error').textContent()) ?? '', /Could not reach your old server/)
      assert.equal(moveRow(m.did)?.step, 'code-sent')
      assert.ok(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true })?.deactivatedAt)
    } finally {
      await oldPds.restart()
    }
    await page.getByLabel('Code from the email').fill(code)
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    await assertMovedIn(m, records)
    await close()
  })

  it('a lost browser resumes by sending the form again; an expired code is refused and a new one works', async () => {
    const m = await newMover(oldSide, 'lostmove')
    const records = await snapshotRecords(await session(oldPds.url, m), m.did)
    const first = await openPage(true)
    await startMove(first.page, m)
    await waitForCodeForm(first.page)
    await first.close()
    // Another browser, no cookie: the same form takes the move up where it stood.
    const { page, close } = await openPage(true)
    await startMove(page, m)
    await waitForCodeForm(page)
    const oldDb = oldPds.hearth.services.accounts.db
    oldDb.prepare(`UPDATE "email_token" SET "requestedAt" = ? WHERE "did" = ?`).run(new Date(Date.now() - 16 * 60_000).toISOString(), m.did)
    await page.getByLabel('Code from the email').fill(emailToken(oldPds.dataDir, m.did, 'plc_operation'))
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    assert.match((await page.locator('.error').textContent()) ?? '', /expired/i)
    await submit(page, page.getByRole('button', { name: 'Send me a new code' }))
    assert.match((await page.locator('.notice').first().textContent()) ?? '', /new code/)
    await page.getByLabel('Code from the email').fill(emailToken(oldPds.dataDir, m.did, 'plc_operation'))
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    await assertMovedIn(m, records)
    await close()
  })
})

describe('move-in page, bad input', { skip: chromiumSkip }, () => {
  it('a wrong password or an unknown handle is a message on the form, with nothing started', async () => {
    const m = await newMover(oldSide, 'badmove')
    const { page, close } = await openPage(false)
    await startMove(page, m, 'not-the-password')
    assert.match((await page.locator('.error').textContent()) ?? '', /refused the sign-in/)
    assert.equal(await page.getByLabel('Handle or DID').inputValue(), m.did)
    assert.equal(moveRow(m.did), null)
    assert.equal(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true }), null)

    await page.getByLabel('Handle or DID').fill('nobody.invalid')
    await page.getByLabel('Password', { exact: true }).fill('whatever')
    await submit(page, page.getByRole('button', { name: 'Move my account here' }))
    assert.match((await page.locator('.error').textContent()) ?? '', /nobody\.invalid could not be found/)
    await close()
  })

  it('an app password: refused at the start unless privileged; a privileged one stops at the code, and the account password goes on', async () => {
    const m = await newMover(oldSide, 'appmove')
    const old = await session(oldPds.url, m)
    const plain = (await old.com.atproto.server.createAppPassword({ name: 'plain' })).data.password
    const privileged = (await old.com.atproto.server.createAppPassword({ name: 'privileged', privileged: true })).data.password
    const { page, close } = await openPage(false)
    // An app password is not carried over as the password here.
    await startMove(page, m, plain)
    assert.match((await page.locator('.error').textContent()) ?? '', /signed in with an app password: choose a password/)
    const herePassword = 'the-password-here-0'
    const withHerePassword = async (password: string) => {
      await page.getByLabel('Password', { exact: true }).fill(password)
      await page.getByLabel('New password here (optional)').fill(herePassword)
      await page.getByLabel('Handle', { exact: true }).fill(m.handle)
      await page.getByLabel('Email', { exact: true }).fill(m.email)
      await submit(page, page.getByRole('button', { name: 'Move my account here' }))
    }
    await withHerePassword(plain)
    assert.match((await page.locator('.error').textContent()) ?? '', /old server refused a step/)
    assert.equal(moveRow(m.did), null)
    assert.equal(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true }), null)

    await withHerePassword(privileged)
    await page.getByRole('button', { name: 'Try again' }).waitFor({ timeout: 30_000 })
    assert.match((await page.locator('.error').textContent()) ?? '', /old server refused a step/)
    assert.equal(moveRow(m.did)?.step, 'preferences')
    // Nothing half-done: inactive here, still active there.
    assert.ok(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true })?.deactivatedAt)
    assert.equal((await oldStatus(m)).activated, true)
    await page.locator('summary', { hasText: 'Sign in again' }).click()
    await page.getByLabel('Password on your old server').fill(m.password)
    await page.getByLabel('Password here, if you chose a different one').fill(herePassword)
    await submit(page, page.getByRole('button', { name: 'Sign in and continue' }))
    await waitForCodeForm(page)
    await page.getByLabel('Code from the email').fill(emailToken(oldPds.dataDir, m.did, 'plc_operation'))
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    await new AtpAgent({ service: newPds.url }).login({ identifier: m.did, password: herePassword })
    await close()
  })

  it('a handle taken here, or a missing or wrong invite code, is refused on the form with nothing created; a valid invite works', async () => {
    const taken = await newPds.createAccount('takenhere')
    const m = await newMover(oldSide, 'takenmove')
    const { page, close } = await openPage(false)
    await page.goto(`${newPds.url}/`)
    await page.getByLabel('Handle or DID').fill(m.did)
    await page.getByLabel('Password', { exact: true }).fill(m.password)
    await page.getByLabel('Handle', { exact: true }).fill(taken.handle)
    await page.getByLabel('Email', { exact: true }).fill(m.email)
    await submit(page, page.getByRole('button', { name: 'Move my account here' }))
    assert.match((await page.locator('.error').textContent()) ?? '', new RegExp(`Handle already taken: ${taken.handle.replace('.', '\\.')}`))
    assert.equal(moveRow(m.did), null)
    assert.equal(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true }), null)

    const invited = await startTestPds({
      env: {
        PDS_SERVICE_DID: 'did:web:invite.move.test',
        PDS_DID_PLC_URL: plc.url,
        PDS_INVITE_REQUIRED: 'true',
        PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'c'.repeat(63) + '3',
        PDS_JWT_SECRET: 'a-third-jwt-secret-for-the-invite-host-01',
      },
    })
    try {
      const accounts = invited.hearth.services.accounts
      const fill = async (invite: string) => {
        await page.goto(`${invited.url}/`)
        await page.getByLabel('Handle or DID').fill(m.did)
        await page.getByLabel('Password', { exact: true }).fill(m.password)
        await page.getByLabel('Handle', { exact: true }).fill(m.handle)
        await page.getByLabel('Email', { exact: true }).fill(m.email)
        await page.getByLabel('Invite code').fill(invite)
        await submit(page, page.getByRole('button', { name: 'Move my account here' }))
      }
      await fill('not-a-code')
      assert.match((await page.locator('.error').textContent()) ?? '', /invite code/i)
      assert.equal(accounts.getAccount(m.did, { includeDeactivated: true }), null)
      const [code] = accounts.generateInviteCodes(1)
      accounts.createInviteCodes([{ account: 'admin', codes: [code!] }], 1)
      await fill(code!)
      await waitForCodeForm(page)
      assert.ok(accounts.getAccount(m.did, { includeDeactivated: true })?.deactivatedAt)
      // The invite was spent, and is not kept with the move.
      assert.deepEqual(accounts.db.prepare(`SELECT "usedBy" FROM "invite_code_use" WHERE "code" = ?`).get(code), { usedBy: m.did })
      assert.equal((accounts.db.prepare(`SELECT "inviteCode" FROM "hearth_move_in" WHERE "did" = ?`).get(m.did) as { inviteCode: string | null }).inviteCode, null)
    } finally {
      await invited.close()
    }
    await close()
  })

  it('a post without the CSRF token is refused; a second click on the start and on the code does no harm', async () => {
    const jar = new CookieJar()
    const get = await fetch(`${newPds.url}/`, { headers: { accept: 'text/html' } })
    jar.store(get)
    assert.equal(get.status, 200)
    assert.match(get.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    const post = (form: Record<string, string>) =>
      fetch(`${newPds.url}/`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
        body: new URLSearchParams(form).toString(),
      })
    const m = await newMover(oldSide, 'twicemove')
    const start = { action: 'start', identifier: m.did, old_password: m.password, handle: m.handle, email: m.email }
    const noCsrf = await post(start)
    assert.equal(noCsrf.status, 403)
    assert.match(await noCsrf.text(), /form expired or was not sent from this site/)
    const badCsrf = await post({ ...start, csrf: 'f'.repeat(32) })
    assert.equal(badCsrf.status, 403)
    assert.equal(moveRow(m.did), null)

    // Two clicks at once: one move, no error page.
    const [a, b] = await Promise.all([post({ ...start, csrf: jar.csrf() }), post({ ...start, csrf: jar.csrf() })])
    assert.ok([a.status, b.status].every((s) => s === 303 || s === 400), `${a.status} ${b.status}`)
    assert.ok([a.status, b.status].includes(303))
    jar.store(a.status === 303 ? a : b)
    for (let i = 0; i < 200 && moveRow(m.did)?.state !== 'code'; i++) await new Promise((r) => setTimeout(r, 100))
    assert.equal(moveRow(m.did)?.state, 'code')
    // The code sent twice: the second finds the move past that step.
    const code = emailToken(oldPds.dataDir, m.did, 'plc_operation')
    const [c1, c2] = await Promise.all([post({ action: 'code', code, csrf: jar.csrf() }), post({ action: 'code', code, csrf: jar.csrf() })])
    assert.deepEqual([c1.status, c2.status], [303, 303])
    for (let i = 0; i < 200 && moveRow(m.did)?.state !== 'done'; i++) await new Promise((r) => setTimeout(r, 100))
    assert.equal(moveRow(m.did)?.state, 'done')
    const again = await post({ action: 'code', code, csrf: jar.csrf() })
    assert.equal(again.status, 303)
    const agent = new AtpAgent({ service: newPds.url })
    await agent.login({ identifier: m.did, password: m.password })
    assert.equal((await agent.com.atproto.server.checkAccountStatus()).data.activated, true)
  })

  it('API clients still get the plain-text banner at /', async () => {
    const res = await fetch(`${newPds.url}/`)
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8')
    assert.match(await res.text(), /AT Protocol Personal Data Server/)
  })
})

describe('move-in page, sign-in code and cancel', { skip: chromiumSkip }, () => {
  it('an old account with email 2FA: the page asks for the mailed sign-in code, and the move goes on with it', async () => {
    const m = await newMover(oldSide, 'factormove')
    const old = await session(oldPds.url, m)
    await old.com.atproto.server.requestEmailConfirmation()
    const confirm = (await smtp.next(m.email)).token as string
    await old.com.atproto.server.confirmEmail({ email: m.email, token: confirm })
    await old.com.atproto.server.updateEmail({ email: m.email, emailAuthFactor: true })
    const records = await snapshotRecords(old, m.did)
    const { page, close } = await openPage(false)

    await startMove(page, m)
    assert.match((await page.locator('.error').textContent()) ?? '', /emailed you a sign-in code: enter it in “Sign-in code”/)
    const mail = await smtp.next(m.email)
    assert.equal(mail.subject, 'Sign-in Confirmation')
    assert.ok(mail.token)
    // Nothing started: no row, no account here; the form keeps what was typed.
    assert.equal(moveRow(m.did), null)
    assert.equal(newPds.hearth.services.accounts.getAccount(m.did, { includeDeactivated: true }), null)
    assert.equal(await page.getByLabel('Handle', { exact: true }).inputValue(), m.handle)

    await page.getByLabel('Password', { exact: true }).fill(m.password)
    await page.getByLabel('Sign-in code (only if your old server emails one)').fill(mail.token)
    await submit(page, page.getByRole('button', { name: 'Move my account here' }))
    await waitForCodeForm(page)
    const plcMail = await smtp.next(m.email)
    assert.ok(plcMail.token)
    await page.getByLabel('Code from the email').fill(plcMail.token)
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    await assertMovedIn(m, records)
    // The sign-in code was used up on the old server.
    const left = oldPds.hearth.services.accounts.db.prepare(`SELECT count(*) AS n FROM "email_token" WHERE "did" = ? AND "purpose" = 'auth_factor'`).get(m.did) as { n: number }
    assert.equal(left.n, 0)
    await close()
  })

  it('a move cancelled before the code: its sessions there ended, nothing of it left here, the old account as it was; after activation a cancel is refused', async () => {
    const m = await newMover(oldSide, 'cancelmove')
    const old = await session(oldPds.url, m)
    const records = await snapshotRecords(old, m.did)
    const sessionsOld = () =>
      (oldPds.hearth.services.accounts.db.prepare(`SELECT count(*) AS n FROM "refresh_token" WHERE "did" = ?`).get(m.did) as { n: number }).n
    const before = sessionsOld()
    const didDoc = async () => (await (await fetch(`${plc.url}/${m.did}`)).json()) as unknown
    const docBefore = await didDoc()
    const { page, close } = await openPage(false)
    await startMove(page, m)
    await waitForCodeForm(page)
    const s = newPds.hearth.services
    const [blobCid] = [...m.blobs.keys()]
    assert.ok(await s.blobs.hasStored(m.did, blobCid!))
    assert.ok(s.actors.exists(m.did))
    assert.equal(sessionsOld(), before + 1)

    // Only the browser holding the move, and only with the form's CSRF token.
    const other = await openPage(false)
    await other.page.goto(`${newPds.url}/`)
    const otherCsrf = await other.page.locator('input[name="csrf"]').first().inputValue()
    const stranger = await other.page.request.post(`${newPds.url}/`, { form: { csrf: otherCsrf, action: 'cancel' }, maxRedirects: 0 })
    assert.equal(stranger.status(), 400)
    await other.close()
    const noCsrf = await page.request.post(`${newPds.url}/`, { form: { action: 'cancel' }, maxRedirects: 0 })
    assert.equal(noCsrf.status(), 403)
    assert.equal(moveRow(m.did)?.step, 'code-sent')

    await page.locator('summary', { hasText: 'Cancel this move' }).click()
    await submit(page, page.getByRole('button', { name: 'Cancel this move' }))
    assert.match((await page.locator('.notice').first().textContent()) ?? '', /move was cancelled/)
    assert.equal(await page.getByLabel('Handle or DID').count(), 1)
    // Here: no row, no account, no repo, no blobs, no sessions; the log keeps only the deletion.
    assert.equal(moveRow(m.did), null)
    assert.equal(s.accounts.getAccount(m.did, { includeDeactivated: true, includeTakenDown: true }), null)
    assert.equal(s.actors.exists(m.did), false)
    assert.equal(await s.blobs.hasStored(m.did, blobCid!), false)
    assert.equal((s.accounts.db.prepare(`SELECT count(*) AS n FROM "refresh_token" WHERE "did" = ?`).get(m.did) as { n: number }).n, 0)
    const events = sequencedEvents(join(newPds.dataDir, 'sequencer.sqlite'), m.did)
    assert.deepEqual(events.map((e) => `${e.type} ${e.body.active} ${e.body.status}`), ['#account false deleted'])
    // There: the move's session ended, the account active with its records, the DID unchanged.
    assert.equal(sessionsOld(), before)
    assert.equal((await oldStatus(m)).activated, true)
    assert.deepEqual(await snapshotRecords(old, m.did), records)
    assert.deepEqual(await didDoc(), docBefore)

    // A new move of the same account runs to the end; then a cancel is refused in plain words.
    await startMove(page, m)
    await waitForCodeForm(page)
    assert.equal(await page.locator('summary', { hasText: 'Cancel this move' }).count(), 1)
    await page.getByLabel('Code from the email').fill(emailToken(oldPds.dataDir, m.did, 'plc_operation'))
    await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
    await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })
    assert.equal(await page.locator('summary', { hasText: 'Cancel this move' }).count(), 0)
    const csrf = await page.locator('input[name="csrf"]').first().inputValue()
    const late = await page.request.post(`${newPds.url}/`, { form: { csrf, action: 'cancel' }, maxRedirects: 0 })
    assert.equal(late.status(), 400)
    assert.match(await late.text(), /can no longer be cancelled/)
    assert.equal(moveRow(m.did)?.state, 'done')
    await assertMovedIn(m, records)
    await close()
  })
})
