import assert from 'node:assert/strict'
import { test } from 'node:test'
import { REFRESH_GRACE_MS } from '../../src/account/refresh-tokens.ts'
import { hmacKey, signHs256Jwt } from '../../src/auth/jwt.ts'
import { ACCESS_FULL, ACCESS_PRIVILEGED, ACCESS_STANDARD } from '../../src/auth/scopes.ts'
import { ACCESS_TOKEN_TTL_S, REFRESH_TOKEN_TTL_S, SessionManager } from '../../src/auth/session.ts'
import { ALICE, BOB, CID, tempStore, type TempStore } from '../account/helpers.ts'
import { xrpcError } from '../helpers/xrpc-error.ts'

const SECRET = 'jwt-secret'
const SERVICE_DID = 'did:web:pds.example.com'
const HOUR = 3600_000

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
}
function header(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString())
}


async function setup(): Promise<{ t: TempStore; sessions: SessionManager }> {
  const t = tempStore()
  t.clock.set(Date.now()) // tokens carry real-looking times
  const sessions = new SessionManager(t.store, { jwtSecret: SECRET, serviceDid: SERVICE_DID, now: t.clock.now, loginFloorMs: 0 })
  await sessions.createAccountAndSession({
    did: ALICE,
    handle: 'alice.test',
    email: 'Alice@Example.com',
    password: 'alice-password',
    repoCid: CID,
    repoRev: '3kaaaaaaaaaa2',
  })
  await sessions.createAccountAndSession({
    did: BOB,
    handle: 'bob.test',
    email: 'bob@example.com',
    password: 'bob-password',
    repoCid: CID,
    repoRev: '3kaaaaaaaaaa2',
  })
  return { t, sessions }
}

test('sessions: tokens carry the official headers and claims, lifetimes and scopes', async () => {
  const { t, sessions } = await setup()
  try {
    const full = sessions.createSession(ALICE, null)
    assert.deepEqual(header(full.accessJwt), { typ: 'at+jwt', alg: 'HS256' })
    assert.deepEqual(header(full.refreshJwt), { typ: 'refresh+jwt', alg: 'HS256' })
    const a = claims(full.accessJwt)
    const r = claims(full.refreshJwt)
    assert.deepEqual(Object.keys(a), ['scope', 'aud', 'sub', 'sid', 'iat', 'exp'])
    assert.deepEqual(Object.keys(r), ['scope', 'aud', 'sub', 'jti', 'iat', 'exp'])
    assert.equal(a.scope, 'com.atproto.access')
    assert.equal(r.scope, 'com.atproto.refresh')
    assert.equal(a.aud, SERVICE_DID)
    assert.equal(a.sub, ALICE)
    assert.equal(a.iat, Math.floor(t.clock.now() / 1000))
    assert.equal((a.exp as number) - (a.iat as number), ACCESS_TOKEN_TTL_S)
    assert.equal(ACCESS_TOKEN_TTL_S, 120 * 60)
    assert.equal((r.exp as number) - (r.iat as number), REFRESH_TOKEN_TTL_S)
    assert.equal(REFRESH_TOKEN_TTL_S, 90 * 24 * 3600)
    assert.equal(a.sid, r.jti)
    const row = t.store.getRefreshToken(r.jti as string)!
    assert.equal(row.did, ALICE)
    assert.equal(row.expiresAt, new Date((r.exp as number) * 1000).toISOString())
    assert.equal(row.appPassword, null)

    assert.equal(claims(sessions.createSession(ALICE, { name: 'p', privileged: true }).accessJwt).scope, 'com.atproto.appPassPrivileged')
    const app = sessions.createSession(ALICE, { name: 'a', privileged: false })
    assert.equal(claims(app.accessJwt).scope, 'com.atproto.appPass')
    assert.equal(t.store.getSession(claims(app.refreshJwt).jti as string)?.appPasswordName, 'a')

    // A taken-down account's session: takendown scope, no stored refresh token, no session binding.
    const down = sessions.createSession(ALICE, null, { takendown: true })
    assert.equal(claims(down.accessJwt).scope, 'com.atproto.takendown')
    assert.equal(claims(down.accessJwt).sid, undefined)
    assert.equal(t.store.getRefreshToken(claims(down.refreshJwt).jti as string), null)
  } finally {
    t.cleanup()
  }
})

test('access tokens: verified with the official checks and errors', async () => {
  const { t, sessions } = await setup()
  try {
    const { accessJwt, refreshJwt } = sessions.createSession(ALICE, null)
    assert.deepEqual(sessions.verifyAccessToken(accessJwt, ACCESS_STANDARD), {
      did: ALICE,
      scope: 'com.atproto.access',
      sessionId: claims(refreshJwt).jti,
      appPasswordName: null,
    })
    const key = hmacKey(SECRET)
    const iat = Math.floor(t.clock.now() / 1000)
    const forge = (payload: Record<string, unknown>, typ = 'at+jwt') =>
      signHs256Jwt(typ, { scope: 'com.atproto.access', aud: SERVICE_DID, sub: ALICE, iat, exp: iat + 60, ...payload }, key)
    const invalid = (message: string) => xrpcError(400, 'InvalidToken', message)
    const cases: Array<[string, string, (err: unknown) => boolean]> = [
      ['refresh token used as access', refreshJwt, invalid('Invalid token type')],
      ['no typ', forge({}, ''), invalid('Invalid token type')],
      ['typ JWT', forge({}, 'JWT'), invalid('Invalid token type')],
      ['other service', forge({ aud: 'did:web:other.example' }), invalid('Token could not be verified')],
      ['other secret', signHs256Jwt('at+jwt', claims(accessJwt), hmacKey('other')), invalid('Token could not be verified')],
      ['garbage', 'abc', invalid('Token could not be verified')],
      ['lxm claim', forge({ lxm: 'com.atproto.repo.createRecord' }), invalid('Malformed token')],
      ['cnf claim', forge({ cnf: { jkt: 'x' } }), invalid('Malformed token')],
      ['sub not a DID', forge({ sub: 'alice.test' }), invalid('Malformed token')],
      ['aud an array', forge({ aud: [SERVICE_DID] }), invalid('Malformed token')],
      ['jti a number', forge({ jti: 5 }), invalid('Malformed token')],
      ['sid a number', forge({ sid: 5 }), invalid('Malformed token')],
      ['unknown scope', forge({ scope: 'com.atproto.everything' }), invalid('Bad token scope')],
      ['refresh scope in an access token', forge({ scope: 'com.atproto.refresh' }), invalid('Bad token scope')],
      ['expired', forge({ exp: iat }), xrpcError(400, 'ExpiredToken', 'Token has expired')],
      ['unknown session', forge({ sid: 'nope' }), xrpcError(400, 'ExpiredToken', 'Token has been revoked')],
      ["another account's session", forge({ sid: claims(sessions.createSession(BOB, null).refreshJwt).jti }), xrpcError(400, 'ExpiredToken')],
    ]
    for (const [name, token, check] of cases) assert.throws(() => sessions.verifyAccessToken(token, ACCESS_STANDARD), check, name)

    // App passwords against the scope groups: "Bad token scope" where the method wants more.
    const app = sessions.createSession(ALICE, { name: 'a', privileged: false }).accessJwt
    const priv = sessions.createSession(ALICE, { name: 'p', privileged: true }).accessJwt
    assert.equal(sessions.verifyAccessToken(app, ACCESS_STANDARD).appPasswordName, 'a')
    assert.throws(() => sessions.verifyAccessToken(app, ACCESS_PRIVILEGED), invalid('Bad token scope'))
    assert.equal(sessions.verifyAccessToken(priv, ACCESS_PRIVILEGED).scope, 'com.atproto.appPassPrivileged')
    assert.throws(() => sessions.verifyAccessToken(priv, ACCESS_FULL), invalid('Bad token scope'))
    assert.equal(sessions.verifyAccessToken(accessJwt, ACCESS_FULL).scope, 'com.atproto.access')

    // A token the official PDS issued (no `sid`) is accepted until it expires.
    const official = forge({ scope: 'com.atproto.appPass', exp: iat + 7200 })
    assert.deepEqual(sessions.verifyAccessToken(official, ACCESS_STANDARD), {
      did: ALICE,
      scope: 'com.atproto.appPass',
      sessionId: null,
      appPasswordName: null,
    })
    // Expiry follows the clock.
    t.clock.advance(ACCESS_TOKEN_TTL_S * 1000)
    assert.throws(() => sessions.verifyAccessToken(accessJwt, ACCESS_STANDARD), xrpcError(400, 'ExpiredToken', 'Token has expired'))
  } finally {
    t.cleanup()
  }
})

test('refresh tokens: verified as refresh only; deleteSession takes expired ones', async () => {
  const { t, sessions } = await setup()
  try {
    const { accessJwt, refreshJwt } = sessions.createSession(ALICE, null)
    const v = sessions.verifyRefreshToken(refreshJwt)
    assert.equal(v.did, ALICE)
    assert.equal(v.tokenId, claims(refreshJwt).jti)
    assert.equal(v.exp, claims(refreshJwt).exp)
    assert.throws(() => sessions.verifyRefreshToken(accessJwt), xrpcError(400, 'InvalidToken', 'Invalid token type'))
    const key = hmacKey(SECRET)
    const iat = Math.floor(t.clock.now() / 1000)
    const noJti = signHs256Jwt('refresh+jwt', { scope: 'com.atproto.refresh', aud: SERVICE_DID, sub: ALICE, iat, exp: iat + 60 }, key)
    assert.throws(() => sessions.verifyRefreshToken(noJti), xrpcError(401, 'MissingTokenId'))
    const accessScoped = signHs256Jwt('refresh+jwt', { scope: 'com.atproto.access', aud: SERVICE_DID, sub: ALICE, jti: 'x', iat, exp: iat + 60 }, key)
    assert.throws(() => sessions.verifyRefreshToken(accessScoped), xrpcError(400, 'InvalidToken', 'Bad token scope'))
    t.clock.advance(91 * 24 * HOUR)
    assert.throws(() => sessions.verifyRefreshToken(refreshJwt), xrpcError(400, 'ExpiredToken'))
    assert.equal(sessions.verifyRefreshToken(refreshJwt, { allowExpired: true }).tokenId, v.tokenId)
    assert.equal(sessions.deleteSession(v.tokenId), true)
    assert.equal(sessions.deleteSession(v.tokenId), false)
  } finally {
    t.cleanup()
  }
})

test('refreshSession: rotation, the same successor on reuse within the grace period, refused after it', async () => {
  const { t, sessions } = await setup()
  try {
    const first = sessions.createSession(ALICE, { name: 'phone', privileged: false })
    const x = sessions.verifyRefreshToken(first.refreshJwt).tokenId
    const r1 = sessions.refreshSession(ALICE, x)
    assert.equal(r1.account.did, ALICE)
    const y = claims(r1.refreshJwt).jti as string
    assert.notEqual(y, x)
    assert.equal(claims(r1.accessJwt).sid, y)
    assert.equal(claims(r1.accessJwt).scope, 'com.atproto.appPass') // the app password's scope carries over
    assert.equal(sessions.verifyAccessToken(r1.accessJwt, ACCESS_STANDARD).appPasswordName, 'phone')
    // The old access token keeps working while its session is in its grace period.
    sessions.verifyAccessToken(first.accessJwt, ACCESS_STANDARD)

    t.clock.advance(HOUR)
    const r2 = sessions.refreshSession(ALICE, x) // a client retrying with the old token
    assert.equal(claims(r2.refreshJwt).jti, y)
    t.clock.advance(REFRESH_GRACE_MS - HOUR)
    assert.throws(() => sessions.refreshSession(ALICE, x), xrpcError(400, 'ExpiredToken', 'Token has been revoked'))
    // The successor goes on; someone else's DID cannot use it.
    assert.throws(() => sessions.refreshSession(BOB, y), xrpcError(400, 'ExpiredToken'))
    const r3 = sessions.refreshSession(ALICE, y)
    assert.notEqual(claims(r3.refreshJwt).jti, y)

    // Taken down: 401 AccountTakedown (before anything else, as official); unknown account: 400.
    const bob = sessions.createSession(BOB, null)
    t.store.setTakedown(BOB, { applied: true })
    assert.throws(() => sessions.refreshSession(BOB, claims(bob.refreshJwt).jti as string), xrpcError(401, 'AccountTakedown'))
    assert.throws(() => sessions.refreshSession('did:plc:nobodyaaaaaaaaaaaaaaaaaa', 'x'), xrpcError(400, 'InvalidRequest'))
  } finally {
    t.cleanup()
  }
})

test('ending a session refuses its access tokens at once', async () => {
  const { t, sessions } = await setup()
  try {
    const ok = (jwt: string) => sessions.verifyAccessToken(jwt, ACCESS_STANDARD)
    const revoked = (jwt: string) => assert.throws(() => ok(jwt), xrpcError(400, 'ExpiredToken', 'Token has been revoked'))

    // Logout.
    const s1 = sessions.createSession(ALICE, null)
    ok(s1.accessJwt)
    sessions.deleteSession(sessions.verifyRefreshToken(s1.refreshJwt).tokenId)
    revoked(s1.accessJwt)

    // App password revoked: its sessions end, the others do not.
    const created = await sessions.createAppPassword(ALICE, 'phone', false)
    const login = await sessions.login({ identifier: 'alice.test', password: created.password })
    assert.deepEqual(login.appPassword, { name: 'phone', privileged: false })
    const phone = sessions.createSession(ALICE, login.appPassword)
    const main = sessions.createSession(ALICE, null)
    ok(phone.accessJwt)
    t.store.revokeAppPassword(ALICE, 'phone')
    revoked(phone.accessJwt)
    ok(main.accessJwt)
    await assert.rejects(sessions.login({ identifier: 'alice.test', password: created.password }), xrpcError(401, 'AuthenticationRequired'))

    // Password change: every session of the account ends; other accounts are untouched.
    const bob = sessions.createSession(BOB, null)
    await sessions.setPassword(ALICE, 'new-password')
    revoked(main.accessJwt)
    ok(bob.accessJwt)

    // Takedown and deletion.
    const again = sessions.createSession(ALICE, null)
    t.store.setTakedown(ALICE, { applied: true })
    revoked(again.accessJwt)
    t.store.deleteAccount(BOB)
    revoked(bob.accessJwt)
  } finally {
    t.cleanup()
  }
})

test('login: by handle, email or DID, account or app password, with the official refusals', async () => {
  const { t, sessions } = await setup()
  try {
    for (const identifier of ['alice.test', 'ALICE.TEST', 'alice@example.com', 'Alice@EXAMPLE.com', ALICE]) {
      const res = await sessions.login({ identifier, password: 'alice-password' })
      assert.equal(res.account.did, ALICE, identifier)
      assert.equal(res.appPassword, null)
      assert.equal(res.takendown, false)
    }
    const bad = xrpcError(401, 'AuthenticationRequired', 'Invalid identifier or password')
    await assert.rejects(sessions.login({ identifier: 'alice.test', password: 'wrong' }), bad)
    await assert.rejects(sessions.login({ identifier: 'nobody.test', password: 'alice-password' }), bad)
    await assert.rejects(sessions.login({ identifier: 'not an identifier!', password: 'alice-password' }), bad)
    await assert.rejects(sessions.login({ identifier: 'bob.test', password: 'alice-password' }), bad)
    await assert.rejects(
      sessions.login({ identifier: 'alice.test', password: 'x'.repeat(513) }),
      xrpcError(401, 'AuthenticationRequired', 'Password too long. Consider resetting your password.'),
    )

    const priv = await sessions.createAppPassword(ALICE, 'chat', true)
    assert.match(priv.password, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/)
    assert.deepEqual((await sessions.login({ identifier: 'alice.test', password: priv.password })).appPassword, { name: 'chat', privileged: true })
    await assert.rejects(sessions.login({ identifier: 'bob.test', password: priv.password }), bad) // bound to its account

    // Deactivated accounts log in; taken-down ones only with allowTakendown, and never by app password.
    t.store.deactivateAccount(BOB)
    assert.equal((await sessions.login({ identifier: 'bob.test', password: 'bob-password' })).account.did, BOB)
    t.store.setTakedown(ALICE, { applied: true })
    await assert.rejects(sessions.login({ identifier: 'alice.test', password: 'alice-password' }), xrpcError(401, 'AccountTakedown', 'Account has been taken down'))
    const down = await sessions.login({ identifier: 'alice.test', password: 'alice-password', allowTakendown: true })
    assert.equal(down.takendown, true)
    await assert.rejects(sessions.login({ identifier: 'alice.test', password: priv.password, allowTakendown: true }), bad)
  } finally {
    t.cleanup()
  }
})

test('login answers no sooner than its floor, failing or not', async () => {
  const t = tempStore()
  try {
    const sessions = new SessionManager(t.store, { jwtSecret: SECRET, serviceDid: SERVICE_DID, loginFloorMs: 150 })
    const start = Date.now()
    await assert.rejects(sessions.login({ identifier: 'nobody.test', password: 'x' }))
    assert.ok(Date.now() - start >= 145, `took ${Date.now() - start} ms`)
  } finally {
    t.cleanup()
  }
})

test('passwords: official hashes log in; resetPassword works once and ends sessions; app password names are unique', async () => {
  const { t, sessions } = await setup()
  try {
    // An account whose hash the official PDS wrote.
    t.db.prepare(`UPDATE account SET passwordScrypt = ? WHERE did = ?`).run(
      '0609e05f138913d10d599f3264731b92:59b1638191b7232c21eebf2f849effbfda29764ba5f16b73b965cfabeb4c06e158f80e1a938e3d829fd7a606cb2fe831133db12001be62cf6375b58ef2145415',
      BOB,
    )
    assert.equal((await sessions.login({ identifier: 'bob.test', password: 'correct horse battery staple' })).account.did, BOB)

    const s = sessions.createSession(ALICE, null)
    const token = t.store.createEmailToken(ALICE, 'reset_password')
    await assert.rejects(sessions.resetPassword('AAAAA-AAAAA', 'whatever'), xrpcError(400, 'InvalidToken'))
    assert.equal(await sessions.resetPassword(token, 'reset-password'), ALICE)
    await assert.rejects(sessions.resetPassword(token, 'again'), xrpcError(400, 'InvalidToken'))
    assert.throws(() => sessions.verifyAccessToken(s.accessJwt, ACCESS_STANDARD), xrpcError(400, 'ExpiredToken'))
    assert.equal(await sessions.verifyAccountPassword(ALICE, 'reset-password'), true)
    assert.equal(await sessions.verifyAccountPassword(ALICE, 'alice-password'), false)

    const expired = t.store.createEmailToken(ALICE, 'reset_password')
    t.clock.advance(15 * 60_000)
    await assert.rejects(sessions.resetPassword(expired, 'late'), xrpcError(400, 'ExpiredToken'))

    await sessions.createAppPassword(ALICE, 'dup', false)
    await assert.rejects(sessions.createAppPassword(ALICE, 'dup', false), (err: unknown) => (err as Error).name === 'AccountConflictError')
  } finally {
    t.cleanup()
  }
})
