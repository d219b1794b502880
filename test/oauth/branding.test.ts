// The operator's branding on the pages, as the official reads it: PDS_SERVICE_NAME and PDS_LOGO_URL
// in a header on every page (linking to PDS_HOME_URL), the support and policy links below, and
// PDS_PRIMARY_COLOR (with its contrast colour, given or worked out) on the buttons, through a
// stylesheet the CSP allows by its hash and a logo origin it allows for images. Checked over HTTP
// and, for the colour actually applied, in Debian's Chromium.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { parseColor } from '../../src/oauth/ui/html.ts'

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium'

let branded: TestPds
let plain: TestPds

before(async () => {
  branded = await startTestPds({
    env: {
      PDS_SERVICE_NAME: 'Acme Social',
      PDS_LOGO_URL: 'https://cdn.acme.example/logo.svg',
      PDS_HOME_URL: 'https://acme.example/',
      PDS_SUPPORT_URL: 'https://acme.example/help',
      PDS_PRIVACY_POLICY_URL: 'https://acme.example/privacy',
      PDS_PRIMARY_COLOR: '#ffd400',
    },
  })
  plain = await startTestPds()
})

after(async () => {
  await branded?.close()
  await plain?.close()
})

describe('branding', () => {
  it('puts the name, logo, home and policy links on every page, and the colour in a hash-allowed stylesheet', async () => {
    for (const path of ['/account', '/admin']) {
      const res = await fetch(branded.url + path)
      const body = await res.text()
      assert.equal(res.status, 200)
      assert.match(body, /<header class="brand"><a href="https:\/\/acme\.example\/"><img src="https:\/\/cdn\.acme\.example\/logo\.svg" alt=""><span>Acme Social<\/span><\/a><\/header>/)
      assert.match(body, /<footer class="brand"><a href="https:\/\/acme\.example\/help">Support<\/a><a href="https:\/\/acme\.example\/privacy">Privacy policy<\/a><\/footer>/)
      // A yellow primary reads with black text on it.
      const style = /<style>(:root\{[^<]*)<\/style>/.exec(body)?.[1]
      assert.equal(style, ':root{--primary:#ffd400;--on-primary:#000000;--primary-dark:#ffd400}')
      const csp = res.headers.get('content-security-policy') ?? ''
      assert.ok(csp.includes(`'sha256-${createHash('sha256').update(style!).digest('base64')}'`), csp)
      assert.match(csp, /img-src 'self' data: https:\/\/cdn\.acme\.example;/)
    }
  })

  it('without branding variables: the default name, no logo, no extra style or sources', async () => {
    const res = await fetch(plain.url + '/account')
    const body = await res.text()
    assert.match(body, /<header class="brand"><a href="\/"><span>localhost PDS<\/span><\/a><\/header>/)
    assert.doesNotMatch(body, /<footer|:root\{/)
    assert.match(res.headers.get('content-security-policy') ?? '', /style-src 'sha256-[^' ]+'; img-src 'self' data:; /)
  })

  it('reads the official colour forms and refuses anything else (nothing reaches the stylesheet unparsed)', () => {
    assert.deepEqual(parseColor('#0a58ca'), [10, 88, 202])
    assert.deepEqual(parseColor('fc0'), [255, 204, 0])
    assert.deepEqual(parseColor('rgb(1, 2, 3)'), [1, 2, 3])
    assert.deepEqual(parseColor('10 20 30'), [10, 20, 30])
    for (const bad of ['red;}body{display:none', '300 0 0', '#12345', 'url(x)', '']) assert.equal(parseColor(bad), null, bad)
  })

  it('applies the colour in Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent: not run` }, async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] })
    try {
      const page = await browser.newPage()
      const violations: string[] = []
      page.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text())
      })
      await page.goto(`${branded.url}/account`)
      const button = page.getByRole('button', { name: 'Sign in' })
      type Styled = { getComputedStyle(el: unknown): { backgroundColor: string; color: string } }
      const style = await button.evaluate((el) => {
        const s = (globalThis as unknown as Styled).getComputedStyle(el)
        return { background: s.backgroundColor, color: s.color }
      })
      assert.deepEqual(style, { background: 'rgb(255, 212, 0)', color: 'rgb(0, 0, 0)' })
      // The logo is refused by nothing but the network (the host does not exist): no CSP report.
      assert.deepEqual(violations, [])
    } finally {
      await browser.close()
    }
  })
})
