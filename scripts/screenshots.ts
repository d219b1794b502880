// npm run screenshots: pictures of Hearth's web pages (home with the move-in form, a move waiting
// for its emailed code, sign-in, account with its settings and export, operator sign-in, the
// dashboard and a finished backup's page) at phone and desktop
// width, light and dark, saved as PNGs in docs/screenshots/.
// Starts its own Hearth (with an in-memory PLC directory) and drives Debian's Chromium
// (HEARTH_CHROMIUM, default /usr/bin/chromium) through playwright-core.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type Browser, chromium, type Cookie, type Page } from 'playwright-core'
import { MetricsSampler, useMetricsSampler } from '../src/metrics/history.ts'
import { startTestPds, type TestPds } from '../test/helpers/pds.ts'

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'
const OUT = resolve(import.meta.dirname, '../docs/screenshots')

const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 900 } } as const
const SCHEMES = ['light', 'dark'] as const

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is absent: apt-get install chromium, or set HEARTH_CHROMIUM`)
  mkdirSync(OUT, { recursive: true })
  // Where the dashboard's "Start a backup now" writes (one is taken before the pictures).
  const backups = mkdtempSync(join(tmpdir(), 'hearth-screenshot-backups-'))
  // The dashboard's metric charts: a sample per simulated minute while the activity below runs.
  let clock = Date.now() - 20 * 60_000
  const sampler = new MetricsSampler({ now: () => clock })
  useMetricsSampler(sampler)
  const minute = async () => {
    clock += 60_000
    await sampler.sample()
  }
  const pds = await startTestPds({ env: { HEARTH_BACKUP_DESTINATION: backups } })
  // An old PDS to move an account from (its own keys, the same PLC directory).
  const old = await startTestPds({
    env: {
      PDS_DID_PLC_URL: pds.plcUrl,
      PDS_SERVICE_DID: 'did:web:old-pds.localhost',
      PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'b'.repeat(63) + '2',
      PDS_JWT_SECRET: 'jwt-secret-of-the-old-pds-0123456789ab',
    },
  })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  try {
    const alice = await pds.createAccount('alice')
    await alice.agent.com.atproto.server.createAppPassword({ name: 'Phone app' })
    const photo = await alice.agent.com.atproto.repo.uploadBlob(Buffer.alloc(180_000, 7), { encoding: 'image/jpeg' })
    await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      record: { text: 'A photo', createdAt: new Date().toISOString(), embed: { $type: 'app.bsky.embed.images', images: [{ image: photo.data.blob, alt: '' }] } },
    })
    await sampler.sample()
    for (let i = 0; i < 3; i++) {
      await pds.createAccount(['bob', 'carol', 'dave'][i]!)
      await minute()
    }
    for (let m = 0; m < 12; m++) {
      for (let i = 0; i < (m * 7) % 5; i++) {
        await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: `Post ${m}.${i}`, createdAt: new Date().toISOString() } })
      }
      await minute()
    }
    pds.hearth.services.accounts.createInviteCodes([{ account: 'admin', codes: pds.hearth.services.accounts.generateInviteCodes(2) }], 5)
    await takeBackup(browser, pds)
    const moveCookie = await startMove(browser, pds.url, old, await old.createAccount('mover'))
    const saved: string[] = []
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      for (const colorScheme of SCHEMES) {
        const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: 1 })
        const page = await context.newPage()
        const shot = async (name: string) => {
          const file = join(OUT, `${name}-${size}-${colorScheme}.png`)
          await page.screenshot({ path: file, fullPage: true })
          saved.push(file)
        }
        await page.goto(`${pds.url}/`)
        await shot('home')
        // The same page for the browser holding a move, waiting for its emailed code.
        await context.addCookies([moveCookie])
        await page.goto(`${pds.url}/`)
        await shot('move-in')
        await page.goto(`${pds.url}/account`)
        await shot('account-sign-in')
        await page.getByLabel('Handle, email or DID').fill(alice.handle)
        await page.getByLabel('Password').fill(alice.password)
        await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()])
        await shot('account')
        await openGroups(page, ['App passwords', 'Handle'])
        await shot('account-settings')
        await page.goto(`${pds.url}/account`)
        await openGroups(page, ['Export my data'])
        await shot('account-export')
        await page.goto(`${pds.url}/admin`)
        await shot('admin-sign-in')
        await page.getByLabel('Admin password').fill(pds.adminPassword)
        await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()])
        await shot('admin')
        await page.goto(`${pds.url}/admin/backup`)
        await shot('admin-backup')
        await context.close()
      }
    }
    console.log(`saved ${saved.length} screenshots in ${OUT}`)
  } finally {
    await browser.close()
    await Promise.all([pds.close(), old.close()])
    rmSync(backups, { recursive: true, force: true })
  }
}

/** One backup from the dashboard, so its panel shows a last backup. */
async function takeBackup(browser: Browser, pds: TestPds): Promise<void> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${pds.url}/admin`)
  await page.getByLabel('Admin password').fill(pds.adminPassword)
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()])
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Start a backup now' }).click()])
  await page.getByText('The last backup succeeded').waitFor({ timeout: 60_000 })
  await context.close()
}

/** Moves `mover` from `old` on the home page up to the emailed code; the browser's move cookie. */
async function startMove(browser: Browser, url: string, old: TestPds, mover: { did: string; handle: string; password: string }): Promise<Cookie> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${url}/`)
  await page.getByLabel('Handle or DID').fill(mover.did)
  await page.getByLabel('Password', { exact: true }).fill(mover.password)
  await page.getByLabel('Handle', { exact: true }).fill(mover.handle)
  await page.getByLabel('Email', { exact: true }).fill(`${mover.handle}@example.com`)
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Move my account here' }).click()])
  await page.getByLabel('Code from the email').waitFor({ timeout: 60_000 })
  const cookie = (await context.cookies()).find((c) => c.name === 'hearth-move')
  await context.close()
  if (!cookie) throw new Error('no move cookie was set')
  return cookie
}

async function openGroups(page: Page, names: string[]): Promise<void> {
  for (const name of names) {
    await page.locator('summary', { hasText: new RegExp(`^${name}`) }).first().click()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
