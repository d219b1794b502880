// The whole OAuth flow end to end, as a real app and a real browser go through it: the
// official client library (@atproto/oauth-client-node, loopback client) pushes the request,
// Chromium (through playwright-core) signs in and consents on Hearth's pages, the loopback
// callback hands the code back, the app writes a post with its DPoP-bound token, refreshes,
// and once access is revoked (from the account page, or by the client) the token is refused.
// Once with JavaScript enabled, once with it disabled: the pages need none.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Agent } from '@atproto/api'
import { NodeOAuthClient, type NodeSavedSession, type NodeSavedState, requestLocalLock } from '@atproto/oauth-client-node'
import { type Browser, chromium } from 'playwright-core'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

const SCOPE = 'atproto transition:generic'

// Debian's Chromium (CI installs it; a test tool's own browser download cannot work here). On a
// machine without it the browser tests are skipped, saying so, as the shared-vector tests are.
const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'
const chromiumSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent (apt-get install chromium, or set HEARTH_CHROMIUM): OAuth browser flow not run`

let pds: TestPds
let browser: Browser
let callback: http.Server
let redirectUri: string

before(async () => {
  if (chromiumSkip) return
  pds = await startTestPds()
  callback = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><title>done</title><p>Signed in</p>')
  })
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve))
  redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`
  // playwright gives every launch a fresh temporary profile (it refuses --user-data-dir here).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
})

after(async () => {
  await browser?.close()
  await new Promise((resolve) => callback?.close(resolve))
  await pds?.close()
})

function makeClient(): NodeOAuthClient {
  const states = new Map<string, NodeSavedState>()
  const sessions = new Map<string, NodeSavedSession>()
  const clientId = `http://localhost?redirect_uri=${encodeURIComponent(redirectUri)}&scope=${encodeURIComponent(SCOPE)}`
  return new NodeOAuthClient({
    clientMetadata: {
      client_id: clientId,
      redirect_uris: [redirectUri],
      scope: SCOPE,
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      dpop_bound_access_tokens: true,
    },
    allowHttp: true,
    requestLock: requestLocalLock,
    plcDirectoryUrl: pds.plcUrl,
    handleResolver: pds.url,
    stateStore: {
      get: async (k) => states.get(k),
      set: async (k, v) => void states.set(k, v),
      del: async (k) => void states.delete(k),
    },
    sessionStore: {
      get: async (k) => sessions.get(k),
      set: async (k, v) => void sessions.set(k, v),
      del: async (k) => void sessions.delete(k),
    },
  })
}

async function signInAndConsent(javaScriptEnabled: boolean, handle: string, password: string, authorizeUrl: URL) {
  const context = await browser.newContext({ javaScriptEnabled })
  const page = await context.newPage()
  const cspViolations: string[] = []
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text())
  })
  await page.goto(authorizeUrl.href)
  assert.equal(await page.locator('h1').textContent(), 'Sign in')
  // The inline stylesheet is allowed by its hash: the button is styled.
  const background = await page.getByRole('button', { name: 'Sign in' }).evaluate(
    // Runs in the page, which has the DOM's getComputedStyle (not in this file's types).
    (b) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b).backgroundColor,
  )
  assert.equal(background, 'rgb(10, 88, 202)')
  await page.getByLabel('Handle, email or DID').fill(handle)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForLoadState()
  assert.match((await page.locator('h1').textContent()) ?? '', /^Authorize/)
  assert.match(await page.locator('ul.perms').textContent() ?? '', /Act on your behalf in any app/)
  await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), page.getByRole('button', { name: 'Accept' }).click()])
  const params = new URL(page.url()).searchParams
  assert.deepEqual(cspViolations, [])
  return { context, page, params }
}

describe('OAuth flow in a browser', { skip: chromiumSkip }, () => {
  it('authorizes, posts, refreshes, and is refused once revoked from the account page', async () => {
    const { did, handle, password } = await pds.createAccount('flow')
    const client = makeClient()
    const url = await client.authorize(handle, { scope: SCOPE })
    const { context, page, params } = await signInAndConsent(true, handle, password, url)
    assert.ok(params.get('code'))
    const { session } = await client.callback(params)
    assert.equal(session.did, did)

    const agent = new Agent(session)
    const created = await agent.post({ text: 'hello over OAuth', createdAt: new Date().toISOString() })
    assert.match(created.uri, new RegExp(`^at://${did}/app\\.bsky\\.feed\\.post/`))

    const before = await session.getTokenInfo(false)
    const refreshed = await session.getTokenInfo(true)
    assert.ok(refreshed.expiresAt && before.expiresAt && refreshed.expiresAt.getTime() >= before.expiresAt.getTime())
    await agent.post({ text: 'after refresh', createdAt: new Date().toISOString() })

    // Revoke from the account page (the device remembers the account).
    await page.goto(`${pds.url}/account`)
    assert.match(await page.locator('main').textContent() ?? '', /localhost/)
    await page.getByRole('button', { name: /^Revoke access/ }).click()
    await page.waitForURL(/\/account\?revoked=1$/)
    assert.match(await page.locator('main').textContent() ?? '', /Access revoked/)
    await context.close()

    const tokens = pds.hearth.services.accounts.db.prepare(`SELECT count(*) AS n FROM "token" WHERE "did" = ?`).get(did) as { n: number }
    assert.equal(tokens.n, 0)
    await assert.rejects(agent.post({ text: 'after revoke', createdAt: new Date().toISOString() }), (err: Error) => {
      // The access token is refused, and so is the refresh the client tries next.
      assert.match(String(err), /revoked|invalid|expired|refresh|token/i)
      return true
    })
  })

  it('works with JavaScript disabled, and the client can revoke its own session', async () => {
    const { did, handle, password } = await pds.createAccount('nojs')
    const client = makeClient()
    const url = await client.authorize(handle, { scope: SCOPE })
    const { context, params } = await signInAndConsent(false, handle, password, url)
    await context.close()
    const { session } = await client.callback(params)
    assert.equal(session.did, did)
    const agent = new Agent(session)
    await agent.post({ text: 'no script needed', createdAt: new Date().toISOString() })
    const info = await session.getTokenInfo(false)
    assert.equal(info.sub, did)
    const tokens = () =>
      (pds.hearth.services.accounts.db.prepare(`SELECT count(*) AS n FROM "token" WHERE "did" = ?`).get(did) as { n: number }).n
    assert.ok(tokens() > 0)
    await client.revoke(did)
    assert.equal(tokens(), 0)
    await assert.rejects(agent.post({ text: 'revoked', createdAt: new Date().toISOString() }))
  })
})
