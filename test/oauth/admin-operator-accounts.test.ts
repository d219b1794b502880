// The dashboard for "an account the operator marks as admin": HEARTH_ADMIN_DIDS lists accounts
// that, once signed in at /account on this browser (password, and the emailed code when on),
// may open /admin without the admin password. Over HTTP against a real Hearth restarted with
// the setting: the offer, the session it gives, and each refusal (not listed, not signed in
// here, taken down, no CSRF token).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'

let first: TestPds
let pds: TestPds
let operator: { did: string; handle: string; password: string }
let other: { did: string; handle: string; password: string }

before(async () => {
  // The DIDs exist only once the accounts do: made first, then the server started again with them listed.
  // (The first server's PLC directory, which holds the DIDs, stays up for the second.)
  first = await startTestPds()
  operator = await first.createAccount('operator')
  other = await first.createAccount('someone')
  await first.hearth.close()
  pds = await startTestPds({ dataDir: first.dataDir, env: { HEARTH_ADMIN_DIDS: operator.did, PDS_DID_PLC_URL: first.plcUrl } })
})

after(async () => {
  await pds?.close()
  await first?.close()
})

async function send(jar: CookieJar, path: string, fields?: Record<string, string>, csrf: string | null = jar.csrf()) {
  const res = await fetch(pds.url + path, {
    method: fields ? 'POST' : 'GET',
    headers: { cookie: jar.header(), ...(fields ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    body: fields ? new URLSearchParams({ ...(csrf === null ? {} : { csrf }), ...fields }).toString() : undefined,
    redirect: 'manual',
  })
  jar.store(res)
  return { res, body: await res.text() }
}

async function signedInAtAccount(who: { handle: string; password: string }): Promise<CookieJar> {
  const jar = new CookieJar()
  await send(jar, '/account')
  assert.equal((await send(jar, '/account', { action: 'sign-in', identifier: who.handle, password: who.password })).res.status, 303)
  return jar
}

describe('operator accounts (HEARTH_ADMIN_DIDS)', () => {
  it('offers "Continue as" to a listed account signed in here, and its session opens the dashboard', async () => {
    const jar = await signedInAtAccount(operator)
    const page = await send(jar, '/admin')
    assert.match(page.body, new RegExp(`Continue as @${operator.handle.replace('.', '\\.')}`))
    const { res } = await send(jar, '/admin', { action: 'sign-in-account', did: operator.did })
    assert.equal(res.status, 303)
    assert.match(res.headers.getSetCookie().join('\n'), /hearth-admin=[0-9a-f]{64}; Path=\/admin/)
    const dashboard = await send(jar, '/admin')
    assert.match(dashboard.body, /<h1>Operator dashboard<\/h1>/)
    // And it acts: an invite code made from this session exists.
    const before = pds.hearth.services.accounts.listInviteCodes({ limit: 1000 }).codes.length
    await send(jar, '/admin', { action: 'create-invites', count: '1', uses: '1' })
    assert.equal(pds.hearth.services.accounts.listInviteCodes({ limit: 1000 }).codes.length, before + 1)
  })

  it('refuses an account not listed, one not signed in on this browser, a taken-down one, and a post without CSRF', async () => {
    const someone = await signedInAtAccount(other)
    assert.doesNotMatch((await send(someone, '/admin')).body, /Continue as/)
    const notListed = await send(someone, '/admin', { action: 'sign-in-account', did: other.did })
    assert.equal(notListed.res.status, 403)
    assert.match(notListed.body, /not an operator account of this server/)
    // The operator's DID, from a browser where only someone else is signed in.
    const elsewhere = await send(someone, '/admin', { action: 'sign-in-account', did: operator.did })
    assert.equal(elsewhere.res.status, 403)
    assert.match(elsewhere.body, /Sign in to that account at \/account on this browser first/)
    assert.equal(elsewhere.res.headers.getSetCookie().some((c) => c.startsWith('hearth-admin=')), false)

    const jar = await signedInAtAccount(operator)
    const noCsrf = await send(jar, '/admin', { action: 'sign-in-account', did: operator.did }, null)
    assert.equal(noCsrf.res.status, 403)
    // Taken down through the admin API: no longer an operator.
    const admin = new AtpAgent({ service: pds.url })
    admin.setHeader('authorization', `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`)
    await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: 'com.atproto.admin.defs#repoRef', did: operator.did }, takedown: { applied: true, ref: 'test' } })
    const takenDown = await send(jar, '/admin', { action: 'sign-in-account', did: operator.did })
    assert.equal(takenDown.res.status, 403)
    assert.doesNotMatch(takenDown.body, /Continue as/)
    assert.equal(takenDown.res.headers.getSetCookie().some((c) => c.startsWith('hearth-admin=')), false)
  })

  it('says how to use an operator account when none is signed in here', async () => {
    const jar = new CookieJar()
    const { res, body } = await send(jar, '/admin')
    assert.equal(res.status, 200)
    assert.match(body, /With an operator account \(HEARTH_ADMIN_DIDS\): <a href="\/account">sign in at \/account<\/a>/)
    assert.match(body, /Admin password/)
  })
})
