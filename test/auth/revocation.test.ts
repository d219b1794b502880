// Logging out ends the whole legacy session, through real HTTP against a real Hearth: every
// refresh token of the rotation chain (the ones still in their grace period included) and every
// access token minted from any of them stop working at once, and a logged-out token never comes
// back through the refresh grace period. A live session keeps that grace period.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(async () => {
  await pds?.close()
})

interface Answer {
  status: number
  body: Record<string, unknown> | null
}

async function xrpc(nsid: string, token: string, method: 'GET' | 'POST' = 'GET'): Promise<Answer> {
  const res = await fetch(`${pds.url}/xrpc/${nsid}`, { method, headers: { authorization: `Bearer ${token}` } })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null }
}

const getSession = (accessJwt: string) => xrpc('com.atproto.server.getSession', accessJwt)
const refresh = (refreshJwt: string) => xrpc('com.atproto.server.refreshSession', refreshJwt, 'POST')
const logout = (refreshJwt: string) => xrpc('com.atproto.server.deleteSession', refreshJwt, 'POST')

interface Pair {
  accessJwt: string
  refreshJwt: string
}

async function login(handle: string, password: string): Promise<Pair> {
  const agent = new AtpAgent({ service: pds.url })
  await agent.login({ identifier: handle, password })
  return { accessJwt: agent.session?.accessJwt as string, refreshJwt: agent.session?.refreshJwt as string }
}

async function refreshed(token: string): Promise<Pair> {
  const res = await refresh(token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return { accessJwt: res.body?.accessJwt as string, refreshJwt: res.body?.refreshJwt as string }
}

const jti = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { jti: string }).jti

/** An access token of an ended session: 400 ExpiredToken, so clients try a refresh, which fails too. */
async function assertAccessRefused(accessJwt: string, what: string): Promise<void> {
  const res = await getSession(accessJwt)
  assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`)
  assert.equal(res.body?.error, 'ExpiredToken', what)
}

async function assertRefreshRefused(refreshJwt: string, what: string): Promise<void> {
  const res = await refresh(refreshJwt)
  assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`)
  assert.equal(res.body?.error, 'ExpiredToken', what)
}

test('logging out with the newest refresh token ends every token of the session, for good', async () => {
  const { handle, password } = await pds.createAccount('newest')
  const first = await login(handle, password)
  const second = await refreshed(first.refreshJwt)
  assert.equal((await getSession(first.accessJwt)).status, 200, 'the earlier access token is live before the logout')

  assert.equal((await logout(second.refreshJwt)).status, 200)

  await assertAccessRefused(second.accessJwt, 'the access token issued with the logged-out refresh token')
  await assertAccessRefused(first.accessJwt, 'the access token issued before the refresh')
  // The previous refresh token is still inside its grace period: it must not mint a session, nor
  // bring the logged-out successor back.
  await assertRefreshRefused(first.refreshJwt, 'the previous refresh token')
  await assertRefreshRefused(second.refreshJwt, 'the logged-out refresh token')
  await assertAccessRefused(second.accessJwt, 'the logged-out access token after a refresh attempt')
  await assertRefreshRefused(first.refreshJwt, 'the previous refresh token, asked again')
})

test('logging out with the previous refresh token, within its grace period, ends the successor too', async () => {
  const { handle, password } = await pds.createAccount('previous')
  const first = await login(handle, password)
  const second = await refreshed(first.refreshJwt)

  assert.equal((await logout(first.refreshJwt)).status, 200)

  await assertAccessRefused(first.accessJwt, 'the access token issued before the refresh')
  await assertAccessRefused(second.accessJwt, 'the access token issued by the refresh')
  await assertRefreshRefused(second.refreshJwt, 'the successor refresh token')
  await assertRefreshRefused(first.refreshJwt, 'the logged-out refresh token')
  await assertAccessRefused(second.accessJwt, 'the successor access token after refresh attempts')
})

test('a logout anywhere along a longer chain ends all of it; other sessions of the account live on', async () => {
  const { handle, password } = await pds.createAccount('chain')
  const other = await login(handle, password)
  const a = await login(handle, password)
  const b = await refreshed(a.refreshJwt)
  const c = await refreshed(b.refreshJwt)
  const d = await refreshed(c.refreshJwt)

  assert.equal((await logout(b.refreshJwt)).status, 200)

  for (const [name, pair] of Object.entries({ a, b, c, d })) {
    await assertAccessRefused(pair.accessJwt, `access ${name}`)
    await assertRefreshRefused(pair.refreshJwt, `refresh ${name}`)
  }
  assert.equal((await getSession(other.accessJwt)).status, 200, 'another login of the same account is untouched')
  await refreshed(other.refreshJwt)
})

test('a live session keeps the refresh grace period: reusing the previous token gives the same successor', async () => {
  const { handle, password } = await pds.createAccount('grace')
  const first = await login(handle, password)
  const second = await refreshed(first.refreshJwt)
  const retried = await refreshed(first.refreshJwt)
  assert.equal(jti(retried.refreshJwt), jti(second.refreshJwt), 'a retried refresh gets the same successor')
  assert.equal((await getSession(retried.accessJwt)).status, 200)
  assert.equal((await getSession(second.accessJwt)).status, 200)
  // The successor carries on normally, and a logout then ends the retried copies as well.
  const third = await refreshed(second.refreshJwt)
  assert.equal((await logout(third.refreshJwt)).status, 200)
  await assertAccessRefused(retried.accessJwt, 'the retried access token')
  await assertRefreshRefused(retried.refreshJwt, 'the retried refresh token')
})

test('a successor deleted on its own (as the official deleteSession does on the same file) is never brought back', async () => {
  const { handle, password } = await pds.createAccount('switch')
  const first = await login(handle, password)
  const second = await refreshed(first.refreshJwt)
  // The official PDS logs out by deleting only the newest refresh-token row.
  const { db } = pds.hearth.services.accounts
  assert.equal(db.prepare(`DELETE FROM "refresh_token" WHERE "id" = ?`).run(jti(second.refreshJwt)).changes, 1)

  await assertRefreshRefused(first.refreshJwt, 'the previous refresh token of a logged-out session')
  await assertRefreshRefused(second.refreshJwt, 'the logged-out refresh token')
  await assertAccessRefused(second.accessJwt, 'the logged-out access token')
  await assertAccessRefused(first.accessJwt, 'the access token issued before the refresh')
})
