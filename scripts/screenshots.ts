// npm run screenshots: pictures of Hearth's web pages (sign-in, account, operator sign-in and
// dashboard) at phone and desktop width, light and dark, saved as PNGs in docs/screenshots/.
// Starts its own Hearth (with an in-memory PLC directory) and drives Debian's Chromium
// (HEARTH_CHROMIUM, default /usr/bin/chromium) through playwright-core.
import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { startTestPds } from '../test/helpers/pds.ts'

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'
const OUT = resolve(import.meta.dirname, '../docs/screenshots')

const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 900 } } as const
const SCHEMES = ['light', 'dark'] as const

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is absent: apt-get install chromium, or set HEARTH_CHROMIUM`)
  mkdirSync(OUT, { recursive: true })
  const pds = await startTestPds()
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  try {
    const alice = await pds.createAccount('alice')
    await alice.agent.com.atproto.server.createAppPassword({ name: 'Phone app' })
    for (let i = 0; i < 3; i++) await pds.createAccount(['bob', 'carol', 'dave'][i]!)
    pds.hearth.services.accounts.createInviteCodes([{ account: 'admin', codes: pds.hearth.services.accounts.generateInviteCodes(2) }], 5)
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
        await page.goto(`${pds.url}/account`)
        await shot('account-sign-in')
        await page.getByLabel('Handle, email or DID').fill(alice.handle)
        await page.getByLabel('Password').fill(alice.password)
        await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()])
        await shot('account')
        await openGroups(page, ['App passwords', 'Handle'])
        await shot('account-settings')
        await page.goto(`${pds.url}/admin`)
        await shot('admin-sign-in')
        await page.getByLabel('Admin password').fill(pds.adminPassword)
        await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()])
        await shot('admin')
        await context.close()
      }
    }
    console.log(`saved ${saved.length} screenshots in ${OUT}`)
  } finally {
    await browser.close()
    await pds.close()
  }
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
