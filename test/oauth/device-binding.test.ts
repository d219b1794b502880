// Devices (browsers) of the OAuth pages. An authorization request belongs to the first device
// that opens it, as the official provider binds it: a request_uri seen by someone else (a shared
// link, a log, a shoulder) cannot be opened, signed into or approved from another device. And
// devices no one signed in on are swept once unused, so page visits do not grow the table for
// ever. Real Hearth, real pages, cookie jars standing for browsers.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { loopbackClientId, makeDpopKey, TestOAuthClient } from './helpers.ts'

const SCOPE = 'atproto transition:generic'

/** One browser's cookies for the PDS origin. */
class Browser {
  readonly jar = new CookieJar()

  async request(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; location: string | null }> {
    const headers = new Headers(init.headers)
    if (this.jar.cookies.size) headers.set('cookie', this.jar.header())
    const res = await fetch(url, { ...init, headers, redirect: 'manual' })
    this.jar.store(res)
    return { status: res.status, body: await res.text(), location: res.headers.get('location') }
  }

  get deviceId(): string {
    return this.jar.cookies.get('dev-id') ?? ''
  }

  csrf(): string {
    return this.jar.csrf()
  }
}

let pds: TestPds
let alice: { handle: string; password: string; did: string }

before(async () => {
  pds = await startTestPds()
  alice = await pds.createAccount('alice')
})
after(async () => {
  await pds?.close()
})

async function pushed(): Promise<{ client: TestOAuthClient; requestUri: string }> {
  const client = new TestOAuthClient(pds.url, loopbackClientId(SCOPE), await makeDpopKey())
  const { res } = await client.par(SCOPE)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return { client, requestUri: res.body.request_uri as string }
}

const authorizeUrl = (client: TestOAuthClient, requestUri: string) =>
  `${pds.url}/oauth/authorize?${new URLSearchParams({ client_id: client.clientId, request_uri: requestUri })}`

function signIn(browser: Browser, client: TestOAuthClient, requestUri: string) {
  return browser.request(`${pds.url}/oauth/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(pds.hearth.config.oauth.issuer).origin },
    body: new URLSearchParams({
      csrf: browser.csrf(),
      client_id: client.clientId,
      request_uri: requestUri,
      action: 'sign-in',
      identifier: alice.handle,
      password: alice.password,
    }).toString(),
  })
}

describe('binding a request to its device', () => {
  test('a request opened on one device is refused on another, which can neither sign in nor get a code', async () => {
    const { client, requestUri } = await pushed()
    const owner = new Browser()
    const first = await owner.request(authorizeUrl(client, requestUri))
    assert.equal(first.status, 200, first.body)
    assert.match(first.body, /name="password"/, 'the owner gets the sign-in form')

    const thief = new Browser()
    const stolen = await thief.request(authorizeUrl(client, requestUri))
    assert.ok(stolen.status >= 400 && stolen.status < 500, `another device got ${stolen.status}`)
    assert.match(stolen.body, /This request was initiated from another device/)
    assert.doesNotMatch(stolen.body, /name="password"/)

    // Posting the form from the other device does not get a code either.
    const posted = await signIn(thief, client, requestUri)
    assert.ok(posted.status >= 400 && posted.status < 500, `sign-in from another device got ${posted.status}`)
    assert.equal(posted.location, null)
    assert.doesNotMatch(posted.body, /code=cod-/)
  })

  test('the device that opened the request completes it', async () => {
    const { client, requestUri } = await pushed()
    const owner = new Browser()
    assert.equal((await owner.request(authorizeUrl(client, requestUri))).status, 200)
    // Opening it again on the same device is fine.
    assert.equal((await owner.request(authorizeUrl(client, requestUri))).status, 200)
    const signedIn = await signIn(owner, client, requestUri)
    // A loopback client always asks for consent: the consent page, with its Accept button.
    assert.equal(signedIn.status, 200, signedIn.body)
    assert.match(signedIn.body, /value="accept"/)
    const accepted = await owner.request(`${pds.url}/oauth/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(pds.hearth.config.oauth.issuer).origin },
      body: new URLSearchParams({ csrf: owner.csrf(), client_id: client.clientId, request_uri: requestUri, action: 'accept', did: alice.did }).toString(),
    })
    assert.equal(accepted.status, 303, accepted.body)
    assert.match(accepted.location ?? '', /[?&]code=/)
  })
})

describe('the sweep of unused devices', () => {
  const db = () => pds.hearth.services.accounts.db
  const deviceIds = () => new Set((db().prepare(`SELECT "id" FROM "device"`).all() as Array<{ id: string }>).map((r) => r.id))
  const age = (id: string, ms: number) =>
    db().prepare(`UPDATE "device" SET "lastSeenAt" = ? WHERE "id" = ?`).run(new Date(Date.now() - ms).toISOString(), id)

  test('deletes old devices no one signed in on, and keeps signed-in, pending and recent ones', async () => {
    const HOUR = 60 * 60_000
    const origin = new URL(pds.hearth.config.oauth.issuer).origin
    // A visit that never signed in (a made-up request_uri still gets the browser a device).
    const visitor = new Browser()
    const bogus = `urn:ietf:params:oauth:request_uri:req-${randomBytes(16).toString('hex')}`
    await visitor.request(`${pds.url}/oauth/authorize?${new URLSearchParams({ client_id: 'http://localhost', request_uri: bogus })}`)
    // A browser with a remembered account (signed in on the account page).
    const member = new Browser()
    await member.request(`${pds.url}/account`)
    const signedIn = await member.request(`${pds.url}/account`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      body: new URLSearchParams({ csrf: member.csrf(), action: 'sign-in', identifier: alice.handle, password: alice.password }).toString(),
    })
    assert.equal(signedIn.status, 303, signedIn.body)
    // A browser in the middle of an authorization, not signed in yet.
    const { client, requestUri } = await pushed()
    const pending = new Browser()
    assert.equal((await pending.request(authorizeUrl(client, requestUri))).status, 200)
    // A visit a moment ago.
    const recent = new Browser()
    await recent.request(`${pds.url}/account`)

    const all = [visitor, member, pending, recent].map((b) => b.deviceId)
    assert.ok(all.every((id) => /^dev-[0-9a-f]{32}$/.test(id)), all.join(', '))
    for (const id of all) assert.ok(deviceIds().has(id), id)
    for (const b of [visitor, member, pending]) age(b.deviceId, 2 * HOUR)

    const deleted = await pds.hearth.deviceSweep!.runOnce()
    assert.ok(deleted >= 1)
    const left = deviceIds()
    assert.equal(left.has(visitor.deviceId), false, 'the never-signed-in device is gone')
    assert.equal(left.has(member.deviceId), true, 'a device with a remembered account stays')
    assert.equal(left.has(pending.deviceId), true, 'a device with a pending request stays')
    assert.equal(left.has(recent.deviceId), true, 'a recently seen device stays')

    // Once its request is gone, the pending one goes too; the member's stays.
    db().prepare(`DELETE FROM "authorization_request" WHERE "deviceId" = ?`).run(pending.deviceId)
    await pds.hearth.deviceSweep!.runOnce()
    assert.equal(deviceIds().has(pending.deviceId), false)
    assert.equal(deviceIds().has(member.deviceId), true)

    // The swept browser coming back just gets a new device.
    const back = await visitor.request(`${pds.url}/account`)
    assert.equal(back.status, 200)
    assert.ok(deviceIds().has(visitor.deviceId))
  })
})
