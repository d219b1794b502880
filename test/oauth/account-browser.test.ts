// The account page's main actions in Debian's Chromium, with JavaScript on and off: sign in,
// create and revoke an app password, confirm the email with the mailed code, change the handle,
// deactivate and reactivate, download the repository and the blobs (unpacked with tar), change
// the password, delete the account with the emailed code; on the
// dashboard, takedown, invite codes and a backup followed to its end on its self-reloading page.
// Each step asserts the server state it leaves, and that the page's strict CSP blocked nothing it
// needs.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, chromium, type Page } from 'playwright-core'
import type { TestPds } from '../helpers/pds.ts'
import type { SmtpCapture } from '../mail/smtp-capture.ts'
import { emailOf, startMailingPds } from '../api/account-lifecycle/helpers.ts'

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'
const chromiumSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent (apt-get install chromium, or set HEARTH_CHROMIUM): account page browser test not run`

let pds: TestPds
let smtp: SmtpCapture
let browser: Browser
const backups = mkdtempSync(join(tmpdir(), 'hearth-browser-backups-'))

before(async () => {
  if (chromiumSkip) return
  ;({ pds, smtp } = await startMailingPds({ HEARTH_BACKUP_DESTINATION: backups }))
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  await browser?.close()
  await pds?.close()
  await smtp?.close()
  rmSync(backups, { recursive: true, force: true })
})

/** The <details> group with this summary, opened. */
async function group(page: Page, summary: RegExp) {
  const details = page.locator('details', { has: page.locator('summary', { hasText: summary }) }).first()
  if ((await details.getAttribute('open')) === null) await details.locator('summary').click()
  return details
}

async function submit(page: Page, button: ReturnType<Page['getByRole']>): Promise<void> {
  await Promise.all([page.waitForNavigation(), button.click()])
}

for (const javaScriptEnabled of [true, false]) describe(`operator dashboard in a browser, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, { skip: chromiumSkip }, () => {
  it('signs in with the admin password form, takes an account down with a reason, creates an invite code, takes a backup', async () => {
    const target = await pds.createAccount(javaScriptEnabled ? 'brtdjs' : 'brtd')
    const context = await browser.newContext({ javaScriptEnabled })
    const page = await context.newPage()
    const cspViolations: string[] = []
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text())
    })
    // No Basic-auth prompt: a page with a password form.
    const first = await page.goto(`${pds.url}/admin`)
    assert.equal(first?.status(), 200)
    await page.getByLabel('Admin password').fill('wrong')
    await submit(page, page.getByRole('button', { name: 'Sign in' }))
    assert.match((await page.locator('.error').textContent()) ?? '', /Wrong admin password/)
    await page.getByLabel('Admin password').fill(pds.adminPassword)
    await submit(page, page.getByRole('button', { name: 'Sign in' }))
    assert.equal(await page.locator('h1').textContent(), 'Operator dashboard')
    assert.match((await page.locator('header.brand').textContent()) ?? '', /localhost PDS/)

    await page.getByLabel('Search by handle, DID or email').fill(target.handle)
    await submit(page, page.getByRole('button', { name: 'Search', exact: true }))
    const actions = page.locator('details', { has: page.locator('summary', { hasText: `Actions for ${target.handle}` }) })
    await actions.locator('summary').click()
    await actions.getByLabel('Takedown reason').fill('Impersonation, ticket 7')
    await submit(page, actions.getByRole('button', { name: 'Take down' }))
    assert.match((await page.locator('.notice').textContent()) ?? '', /Account taken down/)
    assert.equal(pds.hearth.services.accounts.getAccount(target.did, { includeTakenDown: true })?.takedownRef, 'Impersonation, ticket 7')
    assert.match(await page.content(), /Takedown reason: Impersonation, ticket 7/)

    const invites = pds.hearth.services.accounts.listInviteCodes({ limit: 1000 }).codes.length
    await page.getByLabel('Codes', { exact: true }).fill('2')
    await submit(page, page.getByRole('button', { name: 'Create invite codes' }))
    assert.match((await page.locator('.notice').textContent()) ?? '', /Created 2 invite codes/)
    assert.equal(pds.hearth.services.accounts.listInviteCodes({ limit: 1000 }).codes.length, invites + 2)

    // A backup: the progress page reloads itself (no script) until it is over.
    const before = new Set(readdirSync(backups))
    await submit(page, page.getByRole('button', { name: 'Start a backup now' }))
    assert.match(page.url(), /\/admin\/backup$/)
    await page.getByText('The last backup succeeded').waitFor({ timeout: 30_000 })
    const [folder] = readdirSync(backups).filter((f) => !before.has(f) && !f.startsWith('tar-'))
    assert.ok(folder, 'a backup folder was written')
    assert.equal(JSON.parse(readFileSync(join(backups, folder, 'hearth-backup.json'), 'utf8')).format, 'hearth-backup')
    await page.getByRole('link', { name: 'Back to the dashboard' }).click()
    assert.match((await page.locator('#backups').locator('..').textContent()) ?? '', /succeeded/)
    assert.deepEqual(cspViolations, [])
    await context.close()
  })
})

for (const javaScriptEnabled of [true, false]) {
  describe(`account page in a browser, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, { skip: chromiumSkip }, () => {
    it('signs in and runs the main account actions', async () => {
      const alice = await pds.createAccount(javaScriptEnabled ? 'brjs' : 'brnojs')
      const photo = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff))
      const up = await alice.agent.com.atproto.repo.uploadBlob(photo, { encoding: 'image/jpeg' })
      await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.photo', record: { $type: 'com.example.photo', image: up.data.blob } })
      const accounts = pds.hearth.services.accounts
      const context = await browser.newContext({ javaScriptEnabled, acceptDownloads: true })
      const page = await context.newPage()
      const cspViolations: string[] = []
      page.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text())
      })
      await page.goto(`${pds.url}/account`)
      await page.getByLabel('Handle, email or DID').fill(alice.handle)
      await page.getByLabel('Password').fill(alice.password)
      await submit(page, page.getByRole('button', { name: 'Sign in' }))
      assert.match((await page.locator('h2').first().textContent()) ?? '', new RegExp(alice.handle.replace('.', '\\.')))

      // App password: create (privileged), see it once, revoke.
      let g = await group(page, /^App passwords/)
      await g.getByLabel('Name').fill('Phone app')
      await g.getByLabel(/Privileged/).check()
      await submit(page, g.getByRole('button', { name: 'Create app password' }))
      const secret = (await page.locator('code.secret').textContent()) ?? ''
      assert.match(secret, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/)
      assert.deepEqual(accounts.listAppPasswords(alice.did).map((p) => [p.name, p.privileged]), [['Phone app', true]])
      g = await group(page, /^App passwords/)
      await submit(page, g.getByRole('button', { name: 'Revoke app password Phone app' }))
      assert.match((await page.locator('.notice').first().textContent()) ?? '', /App password revoked/)
      assert.deepEqual(accounts.listAppPasswords(alice.did), [])

      // Email: ask for a code, type it in from the mail.
      g = await group(page, /^Email$/)
      await submit(page, g.getByRole('button', { name: 'Email me a confirmation code' }))
      const mail = await smtp.next(emailOf(alice.handle))
      g = await group(page, /^Email$/)
      await g.getByLabel('Confirmation code').fill(mail.token!)
      await submit(page, g.getByRole('button', { name: 'Confirm my address' }))
      assert.match((await page.locator('.notice').first().textContent()) ?? '', /Email address confirmed/)
      assert.ok(accounts.getAccount(alice.did)?.emailConfirmedAt)

      // Handle under the service domain.
      const newName = javaScriptEnabled ? 'renamed-js' : 'renamed-nojs'
      g = await group(page, /^Handle$/)
      await g.getByLabel('Name', { exact: true }).fill(newName)
      await submit(page, g.getByRole('button', { name: 'Use this handle' }))
      assert.match((await page.locator('.notice').first().textContent()) ?? '', /Handle changed/)
      assert.equal(accounts.getAccount(alice.did)?.handle, `${newName}.test`)

      // Repository download.
      g = await group(page, /^Export my data$/)
      const [download] = await Promise.all([page.waitForEvent('download'), g.getByRole('link', { name: 'Download my repository' }).click()])
      const car = readFileSync((await download.path())!)
      const official = Buffer.from(await (await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(alice.did)}`)).arrayBuffer())
      assert.ok(car.equals(official), 'the download is the repository getRepo serves')
      g = await group(page, /^Export my data$/)
      const [tar] = await Promise.all([page.waitForEvent('download'), g.getByRole('link', { name: 'Download my images and videos' }).click()])
      assert.match(tar.suggestedFilename(), /-blobs\.tar$/)
      const unpacked = mkdtempSync(join(backups, 'tar-'))
      execFileSync('tar', ['-xf', (await tar.path())!], { cwd: unpacked })
      assert.deepEqual(readdirSync(join(unpacked, 'blobs')), [`${up.data.blob.ref.toString()}.jpg`])
      assert.ok(readFileSync(join(unpacked, 'blobs', `${up.data.blob.ref.toString()}.jpg`)).equals(photo))

      // A wrong password, then deactivate and reactivate.
      g = await group(page, /^Deactivate$/)
      await g.getByLabel('Password').fill('wrong')
      await submit(page, g.getByRole('button', { name: 'Deactivate my account' }))
      assert.match((await page.locator('.error').first().textContent()) ?? '', /password is not right/)
      assert.equal(accounts.getAccount(alice.did)?.deactivatedAt, null)
      g = await group(page, /^Deactivate$/)
      await g.getByLabel('Password').fill(alice.password)
      await submit(page, g.getByRole('button', { name: 'Deactivate my account' }))
      assert.ok(accounts.getAccount(alice.did, { includeDeactivated: true })?.deactivatedAt)
      g = await group(page, /^Reactivate$/)
      await submit(page, g.getByRole('button', { name: 'Reactivate my account' }))
      assert.match((await page.locator('.notice').first().textContent()) ?? '', /Account reactivated/)
      assert.equal(accounts.getAccount(alice.did)?.deactivatedAt, null)

      // Password change: the old one stops working, the new one works.
      const newPassword = `${alice.password}-2`
      g = await group(page, /^Password$/)
      await g.getByLabel('Current password').fill(alice.password)
      await g.getByLabel('New password', { exact: true }).fill(newPassword)
      await g.getByLabel('New password again').fill(newPassword)
      await submit(page, g.getByRole('button', { name: 'Change password' }))
      assert.match((await page.locator('.notice').first().textContent()) ?? '', /Password changed/)
      assert.equal(await pds.hearth.services.sessions.verifyAccountPassword(alice.did, alice.password), false)
      assert.equal(await pds.hearth.services.sessions.verifyAccountPassword(alice.did, newPassword), true)

      // Delete with the emailed code: a second click of the used code is a clear message.
      g = await group(page, /^Delete my account$/)
      await submit(page, g.getByRole('button', { name: 'Email me a deletion code' }))
      const deletion = await smtp.next(emailOf(alice.handle))
      g = await group(page, /^Delete my account$/)
      await g.getByLabel('Code from the email').fill(deletion.token!)
      await g.getByLabel('Password').fill(newPassword)
      await submit(page, g.getByRole('button', { name: 'Delete my account for good' }))
      assert.match((await page.locator('.notice').first().textContent()) ?? '', /Account deleted/)
      assert.equal(accounts.getAccount(alice.did, { includeDeactivated: true, includeTakenDown: true }), null)
      assert.equal(pds.hearth.services.actors.exists(alice.did), false)

      assert.deepEqual(cspViolations, [])
      await context.close()
    })
  })
}
