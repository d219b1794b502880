// The operator dashboard at /admin over plain HTTP form posts against a real Hearth: the
// password form (no Basic-auth prompt), its rate limit, CSRF, no caching; account search,
// takedown with a reason read back later, reset password, delete with confirmation, resend
// confirmation; invite codes created, disabled and their uses shown. Each checked by the
// server state it leaves.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import type { TestPds } from '../helpers/pds.ts'
import type { SmtpCapture } from '../mail/smtp-capture.ts'
import { emailOf, startMailingPds } from '../api/account-lifecycle/helpers.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'

let pds: TestPds
let smtp: SmtpCapture

async function get(jar: CookieJar, path = '/admin'): Promise<{ res: Response; body: string }> {
  const res = await fetch(pds.url + path, { headers: { cookie: jar.header() }, redirect: 'manual' })
  jar.store(res)
  return { res, body: await res.text() }
}

async function post(jar: CookieJar, fields: Record<string, string>, csrf: string | null = jar.csrf()): Promise<{ res: Response; body: string }> {
  const res = await fetch(pds.url + '/admin', {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...(csrf === null ? {} : { csrf }), ...fields }).toString(),
    redirect: 'manual',
  })
  jar.store(res)
  return { res, body: await res.text() }
}

async function operator(): Promise<CookieJar> {
  const jar = new CookieJar()
  await get(jar)
  const { res } = await post(jar, { action: 'sign-in', password: pds.adminPassword })
  assert.equal(res.status, 303)
  assert.match(res.headers.getSetCookie().join('\n'), /hearth-admin=[0-9a-f]{64}; Path=\/admin; Max-Age=43200; HttpOnly; SameSite=Strict/)
  return jar
}

before(async () => {
  ;({ pds, smtp } = await startMailingPds())
})

after(async () => {
  await pds.close()
  await smtp.close()
})

describe('operator dashboard', () => {
  it('asks for the admin password in a form, never cached or framed, and refuses a wrong one', async () => {
    const jar = new CookieJar()
    const { res, body } = await get(jar)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('www-authenticate'), null)
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
    assert.match(body, /Admin password/)
    const wrong = await post(jar, { action: 'sign-in', password: 'nope' })
    assert.equal(wrong.res.status, 401)
    assert.match(wrong.body, /Wrong admin password/)
    assert.ok(!jar.cookies.has('hearth-admin'))
    // Without the CSRF token the right password does nothing.
    const noCsrf = await post(jar, { action: 'sign-in', password: pds.adminPassword }, null)
    assert.equal(noCsrf.res.status, 403)
    assert.ok(!jar.cookies.has('hearth-admin'))
    // The dashboard's actions need a session.
    const acting = await post(jar, { action: 'create-invites', count: '1', uses: '1' })
    assert.equal(acting.res.status, 401)
    assert.match(acting.body, /Sign in again/)
  })

  it('limits sign-in attempts per address', async () => {
    const jar = new CookieJar()
    await get(jar)
    let last = 0
    for (let i = 0; i < 12; i++) last = (await post(jar, { action: 'sign-in', password: 'guess' })).res.status
    assert.equal(last, 429)
    // Even the right password waits now.
    const right = await post(jar, { action: 'sign-in', password: pds.adminPassword })
    assert.equal(right.res.status, 429)
    assert.match(right.body, /Too many attempts/)
  })
})

describe('operator dashboard, signed in', () => {
  let jar: CookieJar
  before(async () => {
    // The limit above is per address; a fresh server-side limiter is not needed: it is per
    // process, so sign in through the limiter's window by restarting.
    await pds.restart()
    jar = await operator()
  })

  it('shows health, version and storage, and finds accounts by handle, DID or email', async () => {
    const alice = await pds.createAccount('findme')
    const bob = await pds.createAccount('other')
    const { body } = await get(jar)
    assert.match(body, /healthy/)
    assert.match(body, new RegExp(pds.hearth.services.config.service.version.replace(/\./g, '\\.')))
    assert.match(body, /account\.sqlite/)
    assert.match(body, /Free disk/)
    // Where blobs are kept: this server's disk folder (or, with a bucket, its name and endpoint).
    const blobs = pds.hearth.services.config.blobstore
    if (blobs.provider === 'disk') assert.ok(body.includes(`<dt>Blob store</dt><dd>on disk, <code>${blobs.location}</code>: `), 'the blob folder is named')
    else assert.ok(body.includes(`S3 bucket <code>${blobs.bucket}</code>`), 'the bucket is named')
    // The blob bytes of an account, as its blob metadata records them.
    await alice.agent.com.atproto.repo.uploadBlob(new Uint8Array(3000).fill(7), { encoding: 'application/octet-stream' })
    assert.match((await get(jar, `/admin?q=${encodeURIComponent(alice.did)}`)).body, /blobs 2\.9 KiB/)
    assert.match((await get(jar, `/admin?q=${encodeURIComponent(bob.did)}`)).body, /blobs 0 B/)
    for (const q of [alice.handle, alice.did, emailOf(alice.handle).toUpperCase(), 'findme']) {
      const page = (await get(jar, `/admin?q=${encodeURIComponent(q)}`)).body
      assert.ok(page.includes(alice.did), q)
      assert.ok(!page.includes(bob.did), q)
    }
    const none = (await get(jar, `/admin?q=${encodeURIComponent('%_')}`)).body
    assert.match(none, /No accounts match/)
  })

  it('draws commits per hour and signups per day as inline SVG from the event log and the accounts', async () => {
    const alice = await pds.createAccount('charted')
    for (let i = 0; i < 3; i++) {
      await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: `p${i}`, createdAt: new Date().toISOString() } })
    }
    const commits = (pds.hearth.services.sequencer.db.prepare(`SELECT count(*) AS n FROM repo_seq WHERE "eventType" = 'append'`).get() as { n: number }).n
    const signups = (pds.hearth.services.accounts.db.prepare(`SELECT count(*) AS n FROM "actor"`).get() as { n: number }).n
    assert.ok(commits >= 4)
    const { res, body } = await get(jar)
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /unsafe-inline/)
    // The database-drawn charts (the metrics-drawn ones are test/oauth/admin-activity.test.ts's).
    const charts = [...body.matchAll(/<svg [^>]*aria-label="([^"]*)"[\s\S]*?<\/svg>/g)].filter((c) => /^(Commits per hour|Signups per day)/.test(c[1]!))
    assert.equal(charts.length, 2)
    assert.match(charts[0]![1]!, new RegExp(`^Commits per hour, last 24 hours: ${commits} commits in all, \\d+ at most in one bar$`))
    const perBar = [...charts[0]![0].matchAll(/<title>[^<]*: (\d+) commits<\/title>/g)].map((m) => Number(m[1]))
    assert.equal(perBar.reduce((a, b) => a + b, 0), commits)
    assert.ok((perBar.at(-1) ?? 0) >= 3, 'the three commits just made are in the current hour')
    assert.equal((charts[0]![0].match(/<rect /g) ?? []).length, 24)
    assert.match(charts[1]![1]!, new RegExp(`^Signups per day, last 14 days: ${signups} signups in all`))
    assert.equal((charts[1]![0].match(/<rect /g) ?? []).length, 14)
  })

  it('takes an account down with a reason shown later, and lifts it', async () => {
    const alice = await pds.createAccount('td')
    const before = pds.hearth.services.sequencer.lastSeq() ?? 0
    const missing = await post(jar, { action: 'takedown', did: alice.did, reason: ' ' })
    assert.equal(missing.res.status, 400)
    assert.match(missing.body, /Write the reason/)
    const { res } = await post(jar, { action: 'takedown', did: alice.did, reason: 'Spam report #42', q: alice.handle })
    assert.equal(res.status, 303)
    assert.equal(res.headers.get('location'), `/admin?done=taken-down&q=${encodeURIComponent(alice.handle)}`)
    assert.equal(pds.hearth.services.accounts.getAccount(alice.did, { includeTakenDown: true })?.takedownRef, 'Spam report #42')
    assert.deepEqual(pds.hearth.services.sequencer.range(before, 10).filter((e) => e.did === alice.did).map((e) => e.eventType), ['account'])
    await assert.rejects(alice.agent.com.atproto.server.getSession())
    const page = (await get(jar, `/admin?q=${encodeURIComponent(alice.handle)}`)).body
    assert.match(page, /Takedown reason: Spam report #42/)
    const again = await post(jar, { action: 'takedown', did: alice.did, reason: 'again' })
    assert.equal(again.res.status, 200)
    assert.match(again.body, /already taken down \(Spam report #42\)/)
    assert.equal((await post(jar, { action: 'untakedown', did: alice.did })).res.status, 303)
    assert.equal(pds.hearth.services.accounts.getAccount(alice.did)?.takedownRef, null)
  })

  it('resets a password (shown once, sessions ended) and resends the email confirmation', async () => {
    const alice = await pds.createAccount('reset')
    const { res, body } = await post(jar, { action: 'reset-password', did: alice.did })
    assert.equal(res.status, 200)
    const secret = body.match(/<code class="secret">([A-Za-z0-9_-]{16})<\/code>/)?.[1]
    assert.ok(secret)
    await assert.rejects(alice.agent.com.atproto.server.getSession())
    await new AtpAgent({ service: pds.url }).login({ identifier: alice.handle, password: secret })

    const sent = await post(jar, { action: 'resend-confirmation', did: alice.did })
    assert.equal(sent.res.status, 303)
    const mail = await smtp.next(emailOf(alice.handle))
    assert.ok(mail.token)
  })

  it('deletes an account only once its handle is typed; a second click is told plainly', async () => {
    const alice = await pds.createAccount('gone')
    const wrong = await post(jar, { action: 'delete-account', did: alice.did, confirm: 'someone.else' })
    assert.equal(wrong.res.status, 400)
    assert.match(wrong.body, /type its handle/)
    assert.ok(pds.hearth.services.accounts.getAccount(alice.did))
    assert.equal((await post(jar, { action: 'delete-account', did: alice.did, confirm: alice.handle.toUpperCase() })).res.status, 303)
    assert.equal(pds.hearth.services.accounts.getAccount(alice.did, { includeDeactivated: true, includeTakenDown: true }), null)
    const twice = await post(jar, { action: 'delete-account', did: alice.did, confirm: alice.handle })
    assert.equal(twice.res.status, 400)
    assert.match(twice.body, /No account .* on this server/)
  })

  it('creates invite codes, shows their uses, disables one', async () => {
    const bad = await post(jar, { action: 'create-invites', count: '1000', uses: '1' })
    assert.equal(bad.res.status, 400)
    const { body } = await post(jar, { action: 'create-invites', count: '2', uses: '3' })
    const codes = body.match(/Created 2 invite codes: ([^<]+)</)?.[1]?.split(', ') ?? []
    assert.equal(codes.length, 2)
    const code = codes[0]!
    const row = pds.hearth.services.accounts.listInviteCodes({ limit: 100 }).codes.find((c) => c.code === code)
    assert.equal(row?.available, 3)
    // A use, recorded as a signup with the code records it (this server does not require invites).
    const invited = await pds.createAccount('invited')
    pds.hearth.services.accounts.useInviteCode(code, invited.did)
    const page = (await get(jar)).body
    assert.match(page, new RegExp(`<code>${code}</code>[\\s\\S]*?1 of 3 used[\\s\\S]*?used by ${invited.did}`))
    assert.equal((await post(jar, { action: 'disable-invite', code })).res.status, 303)
    assert.equal(pds.hearth.services.accounts.listInviteCodes({ limit: 100 }).codes.find((c) => c.code === code)?.disabled, true)
    const again = await post(jar, { action: 'disable-invite', code })
    assert.match(again.body, /already disabled/)
  })

  it('signs out', async () => {
    assert.equal((await post(jar, { action: 'sign-out' })).res.status, 303)
    const { body } = await get(jar)
    assert.match(body, /Admin password/)
  })
})
