// The sign-in, consent and account pages over plain HTTP, against a stand-in provider: security
// headers, CSRF and origin checks, sign-in errors and limits, prompt / login_hint handling,
// device sessions, and escaping of hostile client names and identifiers.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Services } from '../../src/services.ts'
import { type AuthorizationRequestView, OAuthError, type OAuthProvider } from '../../src/oauth/provider.ts'
import { mountOAuthPages } from '../../src/oauth/ui/index.ts'
import { createXrpcServer, type XrpcServer } from '../../src/xrpc/server.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

// A stand-in OAuthProvider (the pages are tested apart from the protocol), a cookie jar, and
// form-post helpers over plain HTTP.
interface FakeRequest {
  clientId: string
  clientName?: string
  scope: string
  redirectUri: string
  prompt?: string
  loginHint?: string
  responseMode?: string
  used?: boolean
}

class FakeProvider {
  readonly requests = new Map<string, FakeRequest>()
  readonly grants = new Map<string, { scope: string; clientName: string | null }>() // did|clientId
  readonly accepted: Array<{ requestUri: string; did: string; deviceId: string }> = []
  readonly revoked: Array<{ did: string; clientId: string }> = []
  #n = 0

  add(r: FakeRequest): string {
    const uri = `urn:ietf:params:oauth:request_uri:req-${(++this.#n).toString(16).padStart(32, '0')}`
    this.requests.set(uri, r)
    return uri
  }

  asProvider(): OAuthProvider {
    return this as unknown as OAuthProvider
  }

  async loadAuthorizationRequest(clientId: string, requestUri: string): Promise<AuthorizationRequestView> {
    const r = this.requests.get(requestUri)
    if (!r || r.used || r.clientId !== clientId) throw new OAuthError(400, 'invalid_request', 'Unknown request_uri')
    return {
      requestUri,
      clientId,
      clientMetadata: { client_id: clientId, client_name: r.clientName, redirect_uris: [r.redirectUri] } as never,
      parameters: {
        client_id: clientId,
        scope: r.scope,
        redirect_uri: r.redirectUri,
        state: 'st',
        response_type: 'code',
        ...(r.prompt ? { prompt: r.prompt } : {}),
        ...(r.loginHint ? { login_hint: r.loginHint } : {}),
        ...(r.responseMode ? { response_mode: r.responseMode } : {}),
      } as never,
      loginHint: r.loginHint ?? null,
      expiresAt: new Date(Date.now() + 5 * 60_000),
    }
  }

  async acceptAuthorization(requestUri: string, did: string, deviceId: string): Promise<string> {
    const r = this.#use(requestUri)
    this.accepted.push({ requestUri, did, deviceId })
    this.grants.set(`${did}|${r.clientId}`, { scope: r.scope, clientName: r.clientName ?? null })
    return `${r.redirectUri}?code=cod-test&state=st&iss=${encodeURIComponent('http://issuer')}`
  }

  async rejectAuthorization(requestUri: string): Promise<string> {
    const r = this.#use(requestUri)
    return `${r.redirectUri}?error=access_denied&error_description=denied&state=st&iss=x`
  }

  isAlreadyAuthorized(did: string, clientId: string, scope: string): boolean {
    const g = this.grants.get(`${did}|${clientId}`)
    return !!g && scope.split(' ').every((s) => g.scope.split(' ').includes(s))
  }

  listAuthorizedClients(did: string) {
    return [...this.grants.entries()]
      .filter(([k]) => k.startsWith(`${did}|`))
      .map(([k, g]) => ({
        clientId: k.slice(did.length + 1),
        clientName: g.clientName,
        scope: g.scope,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-02T00:00:00.000Z',
      }))
  }

  readonly revokedSessions: Array<{ did: string; tokenId: string }> = []

  revokeSession(did: string, tokenId: string): boolean {
    const deleted = pdsDb().prepare(`DELETE FROM "token" WHERE "did" = ? AND "tokenId" = ?`).run(did, tokenId).changes > 0
    if (deleted) this.revokedSessions.push({ did, tokenId })
    return deleted
  }

  revokeAuthorizedClient(did: string, clientId: string): void {
    this.revoked.push({ did, clientId })
    this.grants.delete(`${did}|${clientId}`)
  }

  #use(requestUri: string): FakeRequest {
    const r = this.requests.get(requestUri)
    if (!r || r.used) throw new OAuthError(400, 'invalid_request', 'Unknown request_uri')
    r.used = true
    return r
  }
}

async function get(base: string, path: string, jar: CookieJar, headers: Record<string, string> = {}): Promise<{ res: Response; body: string }> {
  const res = await fetch(base + path, { headers: { cookie: jar.header(), ...headers }, redirect: 'manual' })
  jar.store(res)
  return { res, body: await res.text() }
}

async function post(
  base: string,
  path: string,
  jar: CookieJar,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ res: Response; body: string }> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  })
  jar.store(res)
  return { res, body: await res.text() }
}

const REDIRECT = 'http://127.0.0.1:9/callback'
const CLIENT = 'https://app.example.com/client-metadata.json'
const HOSTILE = '<script>alert("x")</script>'

let pds: TestPds
const pdsDb = () => pds.hearth.services.accounts.db
let pages: XrpcServer
let base: string
let origin: string
const fake = new FakeProvider()
let alice: { did: string; handle: string; password: string }
let bob: { did: string; handle: string; password: string }

before(async () => {
  pds = await startTestPds()
  alice = await pds.createAccount('alice')
  bob = await pds.createAccount('bob')
  const s = { ...pds.hearth.services, oauth: fake.asProvider() } as Services
  pages = createXrpcServer({})
  mountOAuthPages(pages, s, { signInLimits: { perIdentifier5m: 4, perIdentifierDay: 100, perIp5m: 1000 } })
  const addr = await pages.listen(0, '127.0.0.1')
  base = `http://127.0.0.1:${addr.port}`
  origin = new URL(s.config.oauth.issuer).origin
})

after(async () => {
  await pages.close(1000)
  await pds.close()
})

function authorizePath(requestUri: string, clientId = CLIENT): string {
  return `/oauth/authorize?client_id=${encodeURIComponent(clientId)}&request_uri=${encodeURIComponent(requestUri)}`
}

function req(extra: Partial<Parameters<FakeProvider['add']>[0]> = {}): string {
  return fake.add({ clientId: CLIENT, clientName: 'Example App', scope: 'atproto transition:generic', redirectUri: REDIRECT, ...extra })
}

async function signIn(jar: CookieJar, requestUri: string, who: { handle: string; password: string }, remember = true) {
  await get(base, authorizePath(requestUri), jar)
  return post(base, '/oauth/authorize', jar, {
    csrf: jar.csrf(),
    client_id: CLIENT,
    request_uri: requestUri,
    action: 'sign-in',
    identifier: who.handle,
    password: who.password,
    ...(remember ? { remember: '1' } : {}),
  }, { origin })
}

describe('authorization page', () => {
  it('sends strict security headers, device and CSRF cookies, and an accessible sign-in form', async () => {
    const jar = new CookieJar()
    const { res, body } = await get(base, authorizePath(req()), jar)
    assert.equal(res.status, 200)
    const csp = res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:9(;|$)/)
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/)
    assert.doesNotMatch(csp, /script-src|unsafe-inline/)
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
    assert.equal(res.headers.get('referrer-policy'), 'same-origin')
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('access-control-allow-origin'), null)
    assert.match(res.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/)
    for (const name of ['dev-id', 'ses-id', 'hearth-csrf']) {
      const c = jar.raw.find((x) => x.startsWith(`${name}=`))
      assert.ok(c, name)
      assert.match(c, /HttpOnly/)
      assert.match(c, /SameSite=Lax/)
      assert.doesNotMatch(c, /Secure/) // http issuer in tests
    }
    assert.match(jar.cookies.get('dev-id')!, /^dev-[0-9a-f]{32}$/)
    assert.match(body, /<html lang="en">/)
    assert.match(body, /<h1>Sign in<\/h1>/)
    assert.match(body, /<label for="identifier">/)
    assert.match(body, /<label for="password">/)
    assert.match(body, /<input type="password" id="password" name="password"/)
    assert.doesNotMatch(body, /<script/i)
    assert.match(body, /Example App/)
    // The device row exists with the cookie's session id, as the official stores it.
    const row = pds.hearth.services.accounts.db.prepare(`SELECT * FROM device WHERE id = ?`).get(jar.cookies.get('dev-id')) as { sessionId: string }
    assert.equal(row.sessionId, jar.cookies.get('ses-id'))
  })

  it('shows an error page for an unknown request or missing parameters', async () => {
    const jar = new CookieJar()
    const a = await get(base, authorizePath('urn:ietf:params:oauth:request_uri:req-nope'), jar)
    assert.equal(a.res.status, 400)
    assert.match(a.body, /invalid_request/)
    assert.equal(a.res.headers.get('x-frame-options'), 'DENY')
    const b = await get(base, '/oauth/authorize?client_id=x', jar)
    assert.equal(b.res.status, 400)
    const c = await get(base, authorizePath(req()), jar, { 'sec-fetch-dest': 'iframe' })
    assert.equal(c.res.status, 403)
  })

  it('refuses posts without the CSRF token, from another origin or another site', async () => {
    const uri = req()
    const jar = new CookieJar()
    await get(base, authorizePath(uri), jar)
    const fields = { client_id: CLIENT, request_uri: uri, action: 'sign-in', identifier: alice.handle, password: alice.password }
    const none = await post(base, '/oauth/authorize', jar, fields, { origin })
    assert.equal(none.res.status, 403)
    const wrong = await post(base, '/oauth/authorize', jar, { ...fields, csrf: '0'.repeat(32) }, { origin })
    assert.equal(wrong.res.status, 403)
    const noCookie = new CookieJar()
    const forged = await post(base, '/oauth/authorize', noCookie, { ...fields, csrf: jar.csrf() }, { origin })
    assert.equal(forged.res.status, 403)
    const otherOrigin = await post(base, '/oauth/authorize', jar, { ...fields, csrf: jar.csrf() }, { origin: 'https://evil.example' })
    assert.equal(otherOrigin.res.status, 403)
    const crossSite = await post(base, '/oauth/authorize', jar, { ...fields, csrf: jar.csrf() }, { 'sec-fetch-site': 'cross-site' })
    assert.equal(crossSite.res.status, 403)
    assert.equal(fake.accepted.length, 0)
    assert.equal(fake.requests.get(uri)!.used, undefined)
  })

  it('says so on a wrong password or an app password, and limits attempts', async () => {
    const uri = req()
    const jar = new CookieJar()
    await get(base, authorizePath(uri), jar)
    const attempt = (password: string, identifier = bob.handle) =>
      post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'sign-in', identifier, password }, { origin })
    const bad = await attempt('not-the-password')
    assert.equal(bad.res.status, 401)
    assert.match(bad.body, /role="alert"[^>]*>Wrong identifier or password\./)
    assert.match(bad.body, new RegExp(`value="${bob.handle.replace('.', '\\.')}"`))
    const created = await pds.hearth.services.sessions.createAppPassword(bob.did, 'test-app', false)
    const app = await attempt(created.password)
    assert.equal(app.res.status, 401)
    assert.match(app.body, /App passwords are not accepted/)
    await attempt('wrong-again')
    await attempt('wrong-again')
    const limited = await attempt(bob.password) // the right password, but over the limit
    assert.equal(limited.res.status, 429)
    assert.match(limited.body, /Too many sign-in attempts/)
    assert.equal(fake.accepted.length, 0)
  })

  it('refuses a taken-down account and lets a deactivated one sign in, as official', async () => {
    const carol = await pds.createAccount('carol')
    const dave = await pds.createAccount('dave')
    pds.hearth.services.accounts.setTakedown(carol.did, { applied: true, ref: 'test' })
    pds.hearth.services.accounts.deactivateAccount(dave.did)
    const down = await signIn(new CookieJar(), req(), carol)
    assert.equal(down.res.status, 403)
    assert.match(down.body, /taken down/)
    const deact = await signIn(new CookieJar(), req(), dave)
    assert.equal(deact.res.status, 200)
    assert.match(deact.body, /Accept/)
  })

  it('rotates on a just-rotated session id, and replaces a device whose session cookie is stale or malformed', async () => {
    const db = pds.hearth.services.accounts.db
    const jar = new CookieJar()
    await get(base, authorizePath(req()), jar)
    const first = jar.cookies.get('dev-id')!
    // A concurrent request may carry the previous session id for a few seconds: same device, new id.
    jar.cookies.set('ses-id', 'ses-' + '0'.repeat(32))
    await get(base, authorizePath(req()), jar)
    assert.equal(jar.cookies.get('dev-id'), first)
    assert.notEqual(jar.cookies.get('ses-id'), 'ses-' + '0'.repeat(32))
    // Later, a wrong session id is a stolen or fixed cookie: the device is dropped.
    db.prepare(`UPDATE device SET lastSeenAt = ? WHERE id = ?`).run(new Date(Date.now() - 60_000).toISOString(), first)
    jar.cookies.set('ses-id', 'ses-' + '1'.repeat(32))
    await get(base, authorizePath(req()), jar)
    const second = jar.cookies.get('dev-id')!
    assert.notEqual(second, first)
    assert.equal(db.prepare(`SELECT 1 FROM device WHERE id = ?`).get(first), undefined)
    jar.cookies.set('ses-id', 'garbage')
    await get(base, authorizePath(req()), jar)
    assert.notEqual(jar.cookies.get('dev-id'), second)
  })

  it('signs in, remembers the account, shows consent in plain words, and redirects on Accept', async () => {
    const uri = req({ clientName: HOSTILE, scope: 'atproto repo:app.bsky.feed.post?action=create blob:image/* transition:chat.bsky account:email' })
    const jar = new CookieJar()
    const before = jar.cookies.get('ses-id')
    const { res, body } = await signIn(jar, uri, alice)
    assert.equal(res.status, 200)
    assert.notEqual(jar.cookies.get('ses-id'), before) // rotated on sign-in
    assert.match(body, /<h1>Authorize &lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;<\/h1>/)
    assert.doesNotMatch(body, /<script/i)
    assert.match(body, /Create posts \(app\.bsky\.feed\.post\)/)
    assert.match(body, /Upload files \(image\/\*\) up to 5 MB each/)
    assert.match(body, /Chat messages/)
    assert.match(body, /Read your email address/)
    assert.match(body, /app\.example\.com/)
    assert.match(body, new RegExp(`@${alice.handle.replace('.', '\\.')}`))
    const deviceId = jar.cookies.get('dev-id')!
    const row = pds.hearth.services.accounts.db.prepare(`SELECT * FROM account_device WHERE deviceId = ? AND did = ?`).get(deviceId, alice.did)
    assert.ok(row, 'remembered in account_device')
    const accepted = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'accept', did: alice.did }, { origin })
    assert.equal(accepted.res.status, 303)
    assert.match(accepted.res.headers.get('location')!, /^http:\/\/127\.0\.0\.1:9\/callback\?code=/)
    assert.deepEqual(fake.accepted.at(-1), { requestUri: uri, did: alice.did, deviceId })
  })

  it('does not accept for an account not signed in on this device', async () => {
    const uri = req()
    const jar = new CookieJar()
    await get(base, authorizePath(uri), jar)
    const n = fake.accepted.length
    const forged = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'accept', did: bob.did }, { origin })
    assert.equal(forged.res.status, 401)
    assert.match(forged.body, /Sign in again/)
    assert.equal(fake.accepted.length, n)
  })

  it('without "remember", signs in for this request only', async () => {
    const uri = req({ clientId: 'https://other.example.com/meta.json' })
    const jar = new CookieJar()
    await get(base, authorizePath(uri, 'https://other.example.com/meta.json'), jar)
    const signed = await post(base, '/oauth/authorize', jar, {
      csrf: jar.csrf(), client_id: 'https://other.example.com/meta.json', request_uri: uri, action: 'sign-in', identifier: alice.handle, password: alice.password,
    }, { origin })
    assert.equal(signed.res.status, 200)
    assert.match(signed.body, /Accept/)
    const rows = pds.hearth.services.accounts.db.prepare(`SELECT * FROM account_device WHERE deviceId = ?`).all(jar.cookies.get('dev-id'))
    assert.equal(rows.length, 0)
    const ok = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: 'https://other.example.com/meta.json', request_uri: uri, action: 'accept', did: alice.did }, { origin })
    assert.equal(ok.res.status, 303)
  })

  it('answers a form_post request with a self-posting form to the redirect URI', async () => {
    const uri = req({ responseMode: 'form_post' })
    const jar = new CookieJar()
    await get(base, authorizePath(uri), jar)
    const denied = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'deny' }, { origin })
    assert.equal(denied.res.status, 200)
    assert.match(denied.body, /<form method="post" action="http:\/\/127\.0\.0\.1:9\/callback" id="form-post">/)
    assert.match(denied.body, /<input type="hidden" name="error" value="access_denied">/)
    assert.match(denied.body, /<input type="hidden" name="state" value="st">/)
    assert.match(denied.body, /<button type="submit">Continue<\/button>/)
    const csp = denied.res.headers.get('content-security-policy') ?? ''
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/)
    assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:9/)
  })

  it('denies with access_denied', async () => {
    const uri = req()
    const jar = new CookieJar()
    await get(base, authorizePath(uri), jar)
    const denied = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'deny' }, { origin })
    assert.equal(denied.res.status, 303)
    assert.match(denied.res.headers.get('location')!, /error=access_denied/)
  })
})

describe('prompt and login_hint', () => {
  const jar = new CookieJar() // alice remembered and CLIENT authorized for 'atproto transition:generic'
  before(async () => {
    const uri = req()
    await signIn(jar, uri, alice)
    const r = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'accept', did: alice.did }, { origin })
    assert.equal(r.res.status, 303)
  })

  it('prompt=none without a session redirects with login_required', async () => {
    const { res } = await get(base, authorizePath(req({ prompt: 'none' })), new CookieJar())
    assert.equal(res.status, 303)
    const loc = new URL(res.headers.get('location')!)
    assert.equal(loc.searchParams.get('error'), 'login_required')
    assert.equal(loc.searchParams.get('state'), 'st')
  })

  it('prompt=none for a client not yet authorized redirects with consent_required', async () => {
    const { res } = await get(base, authorizePath(req({ prompt: 'none', scope: 'atproto transition:chat.bsky' })), jar)
    assert.equal(res.status, 303)
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'consent_required')
  })

  it('prompt=none with a remembered, authorized session issues the code at once', async () => {
    const { res } = await get(base, authorizePath(req({ prompt: 'none' })), jar)
    assert.equal(res.status, 303)
    assert.ok(new URL(res.headers.get('location')!).searchParams.get('code'))
  })

  it('a login_hint matching the remembered, authorized account skips every page', async () => {
    const { res } = await get(base, authorizePath(req({ loginHint: alice.handle })), jar)
    assert.equal(res.status, 303)
    assert.equal(fake.accepted.at(-1)!.did, alice.did)
  })

  it('without a hint, a remembered account is offered in the chooser', async () => {
    const { res, body } = await get(base, authorizePath(req()), jar)
    assert.equal(res.status, 200)
    assert.match(body, /Choose an account/)
    assert.match(body, new RegExp(`@${alice.handle.replace('.', '\\.')}`))
    assert.match(body, /Use another account/)
    assert.match(body, /class="initials" aria-hidden="true">A</)
  })

  it('choosing an already authorized account redirects without consent', async () => {
    const uri = req()
    await get(base, authorizePath(uri), jar)
    const r = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'select', did: alice.did }, { origin })
    assert.equal(r.res.status, 303)
    assert.match(r.res.headers.get('location')!, /code=/)
  })

  it('prompt=consent shows the consent page even when authorized', async () => {
    const uri = req({ prompt: 'consent' })
    await get(base, authorizePath(uri), jar)
    const r = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'select', did: alice.did }, { origin })
    assert.equal(r.res.status, 200)
    assert.match(r.body, /Accept/)
  })

  it('prompt=login asks for the password of a remembered account', async () => {
    const uri = req({ prompt: 'login', loginHint: alice.handle })
    const { body } = await get(base, authorizePath(uri), jar)
    assert.match(body, /<h1>Sign in<\/h1>/)
    assert.match(body, new RegExp(`value="${alice.handle.replace('.', '\\.')}"`))
    // The remembered session alone is not enough to accept.
    const r = await post(base, '/oauth/authorize', jar, { csrf: jar.csrf(), client_id: CLIENT, request_uri: uri, action: 'accept', did: alice.did }, { origin })
    assert.equal(r.res.status, 401)
  })

  it('prompt=select_account without any session redirects with account_selection_required', async () => {
    const { res } = await get(base, authorizePath(req({ prompt: 'select_account' })), new CookieJar())
    assert.equal(res.status, 303)
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'account_selection_required')
  })

  it('escapes a hostile login_hint in the sign-in form', async () => {
    const { body } = await get(base, authorizePath(req({ loginHint: '"><script>alert(1)</script>' })), new CookieJar())
    assert.doesNotMatch(body, /<script/i)
    assert.match(body, /value="&quot;&gt;&lt;script&gt;/)
  })

  it('signing out of a remembered account forgets it on the device', async () => {
    const other = new CookieJar()
    const uri = req({ prompt: 'consent' })
    await signIn(other, uri, bob)
    const uri2 = req()
    await get(base, authorizePath(uri2), other)
    const r = await post(base, '/oauth/authorize', other, { csrf: other.csrf(), client_id: CLIENT, request_uri: uri2, action: 'forget', did: bob.did }, { origin })
    assert.equal(r.res.status, 200)
    assert.match(r.body, /<h1>Sign in<\/h1>/)
    const rows = pds.hearth.services.accounts.db.prepare(`SELECT * FROM account_device WHERE deviceId = ?`).all(other.cookies.get('dev-id'))
    assert.equal(rows.length, 0)
  })
})

describe('account page', () => {
  it('asks to sign in, then lists authorized apps and revokes one', async () => {
    const jar = new CookieJar()
    const first = await get(base, '/account', jar)
    assert.equal(first.res.status, 200)
    assert.match(first.body, /Sign in to see/)
    assert.equal(first.res.headers.get('x-frame-options'), 'DENY')
    const noCsrf = await post(base, '/account', jar, { action: 'sign-in', identifier: alice.handle, password: alice.password }, { origin })
    assert.equal(noCsrf.res.status, 403)
    const signed = await post(base, '/account', jar, { csrf: jar.csrf(), action: 'sign-in', identifier: alice.handle, password: alice.password }, { origin })
    assert.equal(signed.res.status, 303)
    fake.grants.set(`${alice.did}|https://evil.example/meta.json`, { scope: 'atproto', clientName: HOSTILE })
    const page = await get(base, '/account', jar)
    assert.match(page.body, /Example App/)
    assert.match(page.body, /&lt;script&gt;alert/)
    assert.doesNotMatch(page.body, /<script/i)
    const revoke = await post(base, '/account', jar, { csrf: jar.csrf(), action: 'revoke', did: alice.did, client_id: CLIENT }, { origin })
    assert.equal(revoke.res.status, 303)
    assert.deepEqual(fake.revoked.at(-1), { did: alice.did, clientId: CLIENT })
    const after = await get(base, '/account?revoked=1', jar)
    assert.match(after.body, /Access revoked/)
    assert.doesNotMatch(after.body, /app\.example\.com/)
  })

  it('lists apps holding a session without a grant (loopback clients) and revokes them', async () => {
    const erin = await pds.createAccount('erin') // bob is over the sign-in limit by now
    const jar = new CookieJar()
    await get(base, '/account', jar)
    await post(base, '/account', jar, { csrf: jar.csrf(), action: 'sign-in', identifier: erin.handle, password: erin.password }, { origin })
    const now = new Date().toISOString()
    const later = new Date(Date.now() + 86_400_000).toISOString()
    pds.hearth.services.accounts.db
      .prepare(`INSERT INTO "token" ("did", "tokenId", "createdAt", "updatedAt", "expiresAt", "clientId", "clientAuth", "parameters", "scope") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(erin.did, 'tok-' + 'a'.repeat(32), now, now, later, 'http://localhost', '{"method":"none"}', '{"scope":"atproto transition:generic"}', 'atproto transition:generic')
    const page = await get(base, '/account', jar)
    assert.match(page.body, /<strong>localhost<\/strong>/)
    assert.match(page.body, /Act on your behalf in any app/)
    const r = await post(base, '/account', jar, { csrf: jar.csrf(), action: 'revoke', did: erin.did, client_id: 'http://localhost' }, { origin })
    assert.equal(r.res.status, 303)
    assert.deepEqual(fake.revoked.at(-1), { did: erin.did, clientId: 'http://localhost' })
  })

  it('refuses to revoke for an account not signed in on this device', async () => {
    const jar = new CookieJar()
    await get(base, '/account', jar)
    const n = fake.revoked.length
    const r = await post(base, '/account', jar, { csrf: jar.csrf(), action: 'revoke', did: bob.did, client_id: CLIENT }, { origin })
    assert.equal(r.res.status, 403)
    assert.equal(fake.revoked.length, n)
  })

  it('lists the app sessions and the devices signed in, revokes one session and signs another device out', async () => {
    const dana = await pds.createAccount('dana')
    const laptop = new CookieJar()
    const phone = new CookieJar()
    for (const [jar, ua] of [[laptop, 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36'], [phone, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1']] as const) {
      await get(base, '/account', jar, { 'user-agent': ua })
      const r = await post(base, '/account', jar, { csrf: jar.csrf(), action: 'sign-in', identifier: dana.handle, password: dana.password }, { origin, 'user-agent': ua })
      assert.equal(r.res.status, 303)
    }
    const now = new Date().toISOString()
    const later = new Date(Date.now() + 3_600_000).toISOString()
    const tokenId = 'tok-' + 'b'.repeat(32)
    pdsDb()
      .prepare(`INSERT INTO "token" ("did", "tokenId", "createdAt", "updatedAt", "expiresAt", "clientId", "clientAuth", "parameters", "scope") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(dana.did, tokenId, now, now, later, CLIENT, '{"method":"none"}', '{"scope":"atproto"}', 'atproto')
    const page = await get(base, '/account', laptop, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36' })
    assert.match(page.body, /App sessions/)
    assert.ok(page.body.includes(`value="${tokenId}"`), 'the session can be revoked by its id')
    assert.match(page.body, /Chrome on Linux<\/strong> <span class="muted">\(this device\)/)
    assert.match(page.body, /Safari on iOS/)
    const phoneDevice = decodeURIComponent(phone.cookies.get('dev-id') ?? '')
    assert.ok(page.body.includes(`value="${phoneDevice}"`))

    // Without the CSRF field, nothing happens.
    const forged = await post(base, '/account', laptop, { action: 'revoke-session', did: dana.did, token_id: tokenId }, { origin })
    assert.equal(forged.res.status, 403)
    const unknown = await post(base, '/account', laptop, { csrf: laptop.csrf(), action: 'revoke-session', did: dana.did, token_id: 'tok-' + 'c'.repeat(32) }, { origin })
    assert.equal(unknown.res.status, 400)
    const revoked = await post(base, '/account', laptop, { csrf: laptop.csrf(), action: 'revoke-session', did: dana.did, token_id: tokenId }, { origin })
    assert.equal(revoked.res.status, 303)
    assert.deepEqual(fake.revokedSessions.at(-1), { did: dana.did, tokenId })
    const after = await get(base, revoked.res.headers.get('location') ?? '/account', laptop)
    assert.match(after.body, /Session revoked/)
    assert.ok(!after.body.includes(tokenId))

    const out = await post(base, '/account', laptop, { csrf: laptop.csrf(), action: 'sign-out-device', did: dana.did, device_id: phoneDevice }, { origin })
    assert.equal(out.res.status, 303)
    const phonePage = await get(base, '/account', phone)
    assert.match(phonePage.body, /Sign in to see/, 'the phone is signed out')
    assert.doesNotMatch((await get(base, '/account', laptop)).body, /Safari on iOS/)
    // The signed-out phone can no longer act for the account.
    const denied = await post(base, '/account', phone, { csrf: phone.csrf(), action: 'sign-out-device', did: dana.did, device_id: decodeURIComponent(laptop.cookies.get('dev-id') ?? '') }, { origin })
    assert.equal(denied.res.status, 403)
    const notThere = await post(base, '/account', laptop, { csrf: laptop.csrf(), action: 'sign-out-device', did: dana.did, device_id: phoneDevice }, { origin })
    assert.equal(notThere.res.status, 400)
  })
})
