// Moving an account in on the home page from the official PDS (0.5.35, run beside the test), in
// Debian's Chromium with JavaScript off: while the official is paused the page shows the steps
// under way and refreshes itself; then the account's records, images and preferences arrive,
// its DID document names Hearth, it is active here and deactivated on the official.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type Browser, chromium, type Page } from 'playwright-core'
import { startReferencePlc } from '../identity/helpers.ts'
import { type OfficialPds, officialUnavailable, startOfficialPds } from '../helpers/official-pds.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { emailToken, pngBytes, sequencedEvents } from '../migration/helpers.ts'
import { assertServes, newMover, type Side, session, snapshotRecords } from '../migration/migration-client.ts'
import { MoveInStore } from '../../src/account/move-in-store.ts'

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'
const skip: string | false =
  officialUnavailable || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium, or set HEARTH_CHROMIUM): move-in page test not run`)

const OFFICIAL_DID = 'did:web:official.movein.test'
const HEARTH_DID = 'did:web:hearth.movein.test'

let plc: { url: string; close(): Promise<void> }
let plcUrl: string
let dataDir: string
let official: OfficialPds
let hearth: TestPds
let officialSide: Side
let browser: Browser

before(async () => {
  if (skip) return
  plc = await startReferencePlc()
  plcUrl = plc.url.replace('127.0.0.1', 'localhost')
  dataDir = mkdtempSync(join(tmpdir(), 'move-in-official-'))
  ;[official, hearth, browser] = await Promise.all([
    startOfficialPds({ dataDir, plcUrl, env: { PDS_SERVICE_DID: OFFICIAL_DID } }),
    startTestPds({ env: { PDS_SERVICE_DID: HEARTH_DID, PDS_DID_PLC_URL: plcUrl } }),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
  ])
  officialSide = { url: official.url, dataDir: official.dataDir, serviceDid: OFFICIAL_DID }
})

after(async () => {
  await browser?.close()
  await Promise.all([official?.stop(), hearth?.close()])
  await plc?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

async function submit(page: Page, button: ReturnType<Page['getByRole']>): Promise<void> {
  await Promise.all([page.waitForNavigation(), button.click()])
}

test('moves an account from the official PDS 0.5.35 to Hearth on the home page', { skip }, async () => {
  const m = await newMover(officialSide, 'offmove')
  // Enough images that copying them takes a while (the pause below lands during the move).
  const agent = await session(official.url, m)
  for (let p = 0; p < 8; p++) {
    const images = []
    for (let i = 0; i < 4; i++) {
      const png = pngBytes(5000 + p * 4 + i)
      const up = await agent.uploadBlob(png, { encoding: 'image/png' })
      m.blobs.set(up.data.blob.ref.toString(), png)
      images.push({ image: up.data.blob, alt: 'pixel' })
    }
    await agent.post({ text: `album ${p}`, embed: { $type: 'app.bsky.embed.images', images } })
  }
  const records = await snapshotRecords(await session(official.url, m), m.did)
  const context = await browser.newContext({ javaScriptEnabled: false })
  const page = await context.newPage()
  await page.goto(`${hearth.url}/`)
  await page.getByLabel('Handle or DID').fill(m.did)
  await page.getByLabel('Password', { exact: true }).fill(m.password)
  await page.getByLabel('Handle', { exact: true }).fill(m.handle)
  await page.getByLabel('Email', { exact: true }).fill(m.email)
  // The official paused (SIGSTOP) the moment the move calls this server's createAccount: by then
  // the start has done all it needs of the official (sign-in, service auth), and every step after
  // createAccount waits on it, so the page shows them under way and refreshes itself. (Pausing it
  // once the browser saw the start answered raced the steps: on a fast run they had all finished.)
  let paused = false
  const pauseAtCreateAccount = (req: { url?: string }) => {
    if (!paused && req.url?.startsWith('/xrpc/com.atproto.server.createAccount')) {
      paused = true
      process.kill(official.pid, 'SIGSTOP')
    }
  }
  const httpServer = hearth.hearth.xrpc.httpServer
  httpServer.on('request', pauseAtCreateAccount)
  const drawn = page.waitForResponse((r) => r.request().method() === 'GET' && r.url() === `${hearth.url}/`)
  try {
    await page.getByRole('button', { name: 'Move my account here' }).click()
    const shown = await drawn
    assert.ok(paused, 'the move called createAccount here')
    await page.waitForLoadState()
    assert.equal(shown.headers().refresh, '1')
    // One step under way (the repository or the images, wherever the pause caught it), the code not yet asked for.
    assert.equal(await page.locator('li[data-state="under way"]').count(), 1)
    assert.equal(await page.locator('li[data-step="code-sent"]').getAttribute('data-state'), 'to do')
    assert.equal(await page.locator('li[data-step="created"]').getAttribute('data-state'), 'done')
  } finally {
    httpServer.off('request', pauseAtCreateAccount)
    if (paused) process.kill(official.pid, 'SIGCONT')
  }
  // With JavaScript off, only the page's own refreshes bring the code form.
  await page.getByLabel('Code from the email').waitFor({ timeout: 30_000 })
  assert.match((await page.locator('li[data-step="blobs"]').textContent()) ?? '', /34 of 34/)
  await page.getByLabel('Code from the email').fill(emailToken(official.dataDir, m.did, 'plc_operation'))
  await submit(page, page.getByRole('button', { name: 'Confirm the move' }))
  await page.getByText('Your account now lives here').waitFor({ timeout: 30_000 })

  assert.equal(new MoveInStore(hearth.hearth.services.accounts.db).get(m.did)?.state, 'done')
  await assertServes(hearth.url, m, records, plcUrl)
  const old = await session(official.url, m)
  assert.equal((await old.com.atproto.server.checkAccountStatus()).data.activated, false)
  const events = sequencedEvents(join(hearth.dataDir, 'sequencer.sqlite'), m.did).map((e) => e.type)
  assert.ok(events.includes('#identity') && events.includes('#account'), events.join(', '))
  await context.close()
})
