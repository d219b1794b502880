// Revocation means revoked, for OAuth sessions, against a real Hearth over HTTP: a token revoked
// at /oauth/revoke (access or refresh, with or without a DPoP proof of its key) is refused by
// XRPC on the very next request, and a password change or reset ends every OAuth session of the
// account, the sign-ins remembered on devices and the legacy sessions with them.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import type { OAuthProvider } from '../../src/oauth/provider.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { codeFrom, loopbackClientId, makeDpopKey, TestOAuthClient } from './helpers.ts'

const SCOPE = 'atproto transition:generic'

let pds: TestPds
let provider: OAuthProvider
before(async () => {
  pds = await startTestPds()
  provider = pds.hearth.services.oauth as OAuthProvider
})
after(async () => {
  await pds?.close()
})

interface Tokens {
  access_token: string
  refresh_token: string
}

async function signIn(did: string, scope = SCOPE): Promise<{ client: TestOAuthClient; tokens: Tokens }> {
  const client = new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
  const { res, verifier } = await client.par(scope)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const redirect = await provider.acceptAuthorization(res.body.request_uri as string, did, 'dev-test')
  const token = await client.exchange(codeFrom(redirect), verifier)
  assert.equal(token.status, 200, JSON.stringify(token.body))
  return { client, tokens: token.body as unknown as Tokens }
}

const getSession = (client: TestOAuthClient, accessToken: string) => client.xrpc('GET', 'com.atproto.server.getSession', accessToken)

async function assertLive(client: TestOAuthClient, tokens: Tokens, what: string): Promise<void> {
  const res = await getSession(client, tokens.access_token)
  assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`)
}

/** The access token is refused at once and the refresh token mints nothing. */
async function assertEnded(client: TestOAuthClient, tokens: Tokens, what: string): Promise<void> {
  const res = await getSession(client, tokens.access_token)
  assert.equal(res.status, 401, `${what}, access token: ${JSON.stringify(res.body)}`)
  assert.equal(res.body.error, 'invalid_token', what)
  const write = await client.xrpc('POST', 'com.atproto.repo.uploadBlob', tokens.access_token, { rawBody: new Uint8Array([1, 2, 3]) })
  assert.equal(write.status, 401, `${what}, a write: ${JSON.stringify(write.body)}`)
  const refreshed = await client.refresh(tokens.refresh_token)
  assert.equal(refreshed.status, 400, `${what}, refresh token: ${JSON.stringify(refreshed.body)}`)
  assert.equal(refreshed.body.error, 'invalid_grant', what)
}

/** A plain RFC 7009 request: form-encoded, no DPoP header. */
async function revokeWithoutProof(clientId: string, token: string): Promise<number> {
  const res = await fetch(`${pds.url}/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, token }).toString(),
  })
  await res.arrayBuffer()
  return res.status
}

describe('/oauth/revoke', () => {
  it('revokes an access token sent without a DPoP proof: XRPC refuses it at once', async () => {
    const { did } = await pds.createAccount('plainaccess')
    const { client, tokens } = await signIn(did)
    await assertLive(client, tokens, 'before')
    assert.equal(await revokeWithoutProof(client.clientId, tokens.access_token), 200)
    await assertEnded(client, tokens, 'after revoking the access token')
  })

  it('revokes a refresh token sent without a DPoP proof: its access token is refused at once', async () => {
    const { did } = await pds.createAccount('plainrefresh')
    const { client, tokens } = await signIn(did)
    await assertLive(client, tokens, 'before')
    assert.equal(await revokeWithoutProof(client.clientId, tokens.refresh_token), 200)
    await assertEnded(client, tokens, 'after revoking the refresh token')
  })

  it('revokes a token whatever DPoP key signs the revocation request', async () => {
    const { did } = await pds.createAccount('otherkey')
    const { client, tokens } = await signIn(did)
    const other = new TestOAuthClient(pds.url, client.clientId, await makeDpopKey())
    assert.equal((await other.revoke(tokens.access_token)).status, 200)
    await assertEnded(client, tokens, 'after a revocation signed with another key')
  })

  it('revokes with a proof of the key, access then refresh token, and a rotated token too', async () => {
    const { did } = await pds.createAccount('withproof')
    const a = await signIn(did)
    assert.equal((await a.client.revoke(a.tokens.access_token)).status, 200)
    await assertEnded(a.client, a.tokens, 'access token revoked')
    const b = await signIn(did)
    assert.equal((await b.client.revoke(b.tokens.refresh_token)).status, 200)
    await assertEnded(b.client, b.tokens, 'refresh token revoked')
    // After a rotation, revoking the earlier (used) refresh token still ends the session.
    const c = await signIn(did)
    const rotated = await c.client.refresh(c.tokens.refresh_token)
    assert.equal(rotated.status, 200)
    assert.equal(await revokeWithoutProof(c.client.clientId, c.tokens.refresh_token), 200)
    await assertEnded(c.client, rotated.body as unknown as Tokens, 'rotated session, its first refresh token revoked')
  })

  it('leaves a token working when another client asks to revoke it, and answers 200 to an unknown token', async () => {
    const { did } = await pds.createAccount('otherclient')
    const { client, tokens } = await signIn(did)
    const stranger = loopbackClientId('atproto')
    assert.notEqual(stranger, client.clientId)
    assert.equal(await revokeWithoutProof(stranger, tokens.access_token), 200)
    assert.equal(await revokeWithoutProof(stranger, tokens.refresh_token), 200)
    await assertLive(client, tokens, 'a token revoked by another client')
    assert.equal(await revokeWithoutProof(client.clientId, `ref-${'0'.repeat(64)}`), 200)
    await assertLive(client, tokens, 'after an unknown token was revoked')
  })
})

describe('password changes end OAuth sessions', () => {
  /** Signs in to the account page in a cookie jar; returns a function that reads the page. */
  async function accountPage(handle: string, password: string): Promise<() => Promise<string>> {
    const jar = new CookieJar()
    const page = async () => {
      const res = await fetch(`${pds.url}/account`, { headers: { cookie: jar.header() }, redirect: 'manual' })
      jar.store(res)
      return res.text()
    }
    await page()
    const res = await fetch(`${pds.url}/account`, {
      method: 'POST',
      headers: { cookie: jar.header(), origin: pds.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: jar.csrf(), action: 'sign-in', identifier: handle, password }).toString(),
      redirect: 'manual',
    })
    jar.store(res)
    assert.equal(res.status, 303)
    return page
  }

  const SIGNED_OUT = 'Sign in to see and manage the apps you have authorized.'

  async function sessionsOf(name: string) {
    const account = await pds.createAccount(name)
    const oauth = [await signIn(account.did), await signIn(account.did, 'atproto transition:generic transition:email')]
    const refreshed = await oauth[0]!.client.refresh(oauth[0]!.tokens.refresh_token)
    assert.equal(refreshed.status, 200)
    oauth[0] = { client: oauth[0]!.client, tokens: refreshed.body as unknown as Tokens }
    for (const o of oauth) await assertLive(o.client, o.tokens, 'before the password change')
    const page = await accountPage(account.handle, account.password)
    assert.ok(!(await page()).includes(SIGNED_OUT), 'the account page is signed in')
    const legacy = new AtpAgent({ service: pds.url })
    await legacy.login({ identifier: account.handle, password: account.password })
    return { account, oauth, page, legacy }
  }

  async function assertAllEnded(s: Awaited<ReturnType<typeof sessionsOf>>, newPassword: string): Promise<void> {
    for (const [i, o] of s.oauth.entries()) await assertEnded(o.client, o.tokens, `OAuth session ${i} after the password change`)
    assert.ok((await s.page()).includes(SIGNED_OUT), 'the device sign-in ended with the password')
    const legacy = await fetch(`${pds.url}/xrpc/com.atproto.server.getSession`, {
      headers: { authorization: `Bearer ${s.legacy.session?.accessJwt}` },
    })
    assert.equal(legacy.status, 400)
    assert.equal(((await legacy.json()) as { error: string }).error, 'ExpiredToken')
    // The account itself carries on with the new password, OAuth included.
    const again = await signIn(s.account.did)
    await assertLive(again.client, again.tokens, 'a new OAuth session')
    await new AtpAgent({ service: pds.url }).login({ identifier: s.account.handle, password: newPassword })
  }

  it('resetPassword ends every OAuth session of the account at once', async () => {
    const s = await sessionsOf('reset')
    await pds.agent().com.atproto.server.requestPasswordReset({ email: `${s.account.handle}@example.com` })
    const row = pds.hearth.services.accounts.db
      .prepare(`SELECT "token" FROM "email_token" WHERE "did" = ? AND "purpose" = 'reset_password'`)
      .get(s.account.did) as { token: string }
    await pds.agent().com.atproto.server.resetPassword({ token: row.token, password: 'a-new-password-1' })
    await assertAllEnded(s, 'a-new-password-1')
  })

  it('admin updateAccountPassword ends every OAuth session of the account at once', async () => {
    const s = await sessionsOf('adminpw')
    const other = await sessionsOf('bystander')
    const res = await fetch(`${pds.url}/xrpc/com.atproto.admin.updateAccountPassword`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`,
      },
      body: JSON.stringify({ did: s.account.did, password: 'a-new-password-2' }),
    })
    assert.equal(res.status, 200, await res.text())
    await assertAllEnded(s, 'a-new-password-2')
    for (const o of other.oauth) await assertLive(o.client, o.tokens, 'another account is untouched')
    assert.ok(!(await other.page()).includes(SIGNED_OUT), "another account's device sign-in is untouched")
  })
})
