import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { test } from 'node:test'
import { createServiceJwt, hmacKey, signHs256Jwt } from '../../src/auth/jwt.ts'
import { ACCESS_FULL } from '../../src/auth/scopes.ts'
import { AuthVerifiers, didDocSigningKeyResolver, parseAuthorization } from '../../src/auth/verifier.ts'
import type { DidDocument } from '../../src/identity/did-doc.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { createXrpcServer } from '../../src/xrpc/server.ts'
import type { XrpcRequestInfo } from '../../src/xrpc/types.ts'
import { listen } from '../helpers/net.ts'
import { ALICE, BOB, CAROL, addAccount, tempStore, type TempStore } from '../account/helpers.ts'
import { xrpcError } from '../helpers/xrpc-error.ts'

const SECRET = 'jwt-secret'
const SERVICE_DID = 'did:web:pds.example.com'
const MOD_DID = 'did:plc:moderationaaaaaaaaaaaaaa'
const ADMIN_PASSWORD = 'admin:pass with colon'

function info(authorization?: string, nsid = 'com.atproto.server.getSession'): XrpcRequestInfo {
  const headers: Record<string, string> = {}
  if (authorization !== undefined) headers.authorization = authorization
  return { nsid, req: { headers } as unknown as IncomingMessage, ip: '127.0.0.1' }
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`


interface Setup {
  t: TempStore
  verifiers: AuthVerifiers
  userKey: Secp256k1Keypair
  modKey: Secp256k1Keypair
  resolved: Array<[string, boolean]>
}

function setup(opts: { adminPassword?: string | null; modServiceDid?: string | null; oauth?: boolean } = {}): Setup {
  const t = tempStore()
  t.clock.set(Date.now())
  addAccount(t.store, ALICE, 'alice.test')
  addAccount(t.store, BOB, 'bob.test')
  const userKey = Secp256k1Keypair.create()
  const modKey = Secp256k1Keypair.create()
  const resolved: Array<[string, boolean]> = []
  const verifiers = new AuthVerifiers({
    jwtSecret: SECRET,
    serviceDid: SERVICE_DID,
    adminPassword: opts.adminPassword === undefined ? ADMIN_PASSWORD : opts.adminPassword,
    store: t.store,
    modServiceDid: opts.modServiceDid === undefined ? MOD_DID : opts.modServiceDid,
    resolveSigningKey: (iss, forceRefresh) => {
      resolved.push([iss, forceRefresh])
      if (iss === ALICE || iss === BOB) return userKey.did()
      if (iss === MOD_DID || iss === `${MOD_DID}#atproto_labeler`) return modKey.did()
      return null
    },
    oauth: opts.oauth ? async (_info, o) => ({ kind: 'access', did: CAROL, scope: o.scopes?.[0] ?? 'com.atproto.access', appPasswordName: null }) : undefined,
    now: t.clock.now,
  })
  return { t, verifiers, userKey, modKey, resolved }
}

test('parseAuthorization: case-insensitive types; malformed or unknown headers are 400 InvalidToken', () => {
  assert.equal(parseAuthorization(info().req), null)
  assert.deepEqual(parseAuthorization(info('bearer abc').req), { type: 'Bearer', value: 'abc' })
  assert.deepEqual(parseAuthorization(info('DPOP abc').req), { type: 'DPoP', value: 'abc' })
  assert.throws(() => parseAuthorization(info('Bearer').req), xrpcError(400, 'InvalidToken', 'Malformed authorization header'))
  assert.throws(() => parseAuthorization(info('Bearer a b').req), xrpcError(400, 'InvalidToken', 'Malformed authorization header'))
  assert.throws(() => parseAuthorization(info('Token abc').req), xrpcError(400, 'InvalidToken', 'Unsupported authorization type: Token'))
  assert.throws(() => parseAuthorization(info('constructor abc').req), xrpcError(400, 'InvalidToken'))
})

test('none ignores credentials; unauthenticated refuses any', async () => {
  const { t, verifiers } = setup()
  try {
    assert.deepEqual(await verifiers.none(info('Bearer garbage garbage')), { kind: 'none' })
    assert.deepEqual(await verifiers.unauthenticated(info()), { kind: 'none' })
    await assert.rejects(async () => verifiers.unauthenticated(info('Bearer x')), xrpcError(401, 'AuthenticationRequired', 'Invalid authorization header'))
  } finally {
    t.cleanup()
  }
})

test('access: missing, wrong type, expired, bad scope; the result names the account, scope and app password', async () => {
  const { t, verifiers } = setup()
  try {
    const s = verifiers.sessions
    const full = s.createSession(ALICE, null)
    const app = s.createSession(ALICE, { name: 'phone', privileged: false })
    assert.deepEqual(await verifiers.accessStandard(info(`Bearer ${full.accessJwt}`)), {
      kind: 'access',
      did: ALICE,
      scope: 'com.atproto.access',
      appPasswordName: null,
    })
    assert.deepEqual(await verifiers.accessStandard(info(`Bearer ${app.accessJwt}`)), {
      kind: 'access',
      did: ALICE,
      scope: 'com.atproto.appPass',
      appPasswordName: 'phone',
    })
    await assert.rejects(async () => verifiers.accessStandard(info()), xrpcError(401, 'AuthMissing', 'Authentication Required'))
    await assert.rejects(async () => verifiers.accessStandard(info(basic('admin', ADMIN_PASSWORD))), xrpcError(400, 'InvalidToken', 'Unexpected authorization type'))
    await assert.rejects(async () => verifiers.accessStandard(info('DPoP abc')), xrpcError(400, 'InvalidToken', 'Unexpected authorization type'))
    await assert.rejects(async () => verifiers.accessStandard(info(`Bearer ${full.refreshJwt}`)), xrpcError(400, 'InvalidToken', 'Invalid token type'))
    // App passwords on a method for password sessions only: the official "Bad token scope".
    await assert.rejects(async () => verifiers.accessFull(info(`Bearer ${app.accessJwt}`)), xrpcError(400, 'InvalidToken', 'Bad token scope'))
    await assert.rejects(async () => verifiers.accessPrivileged(info(`Bearer ${app.accessJwt}`)), xrpcError(400, 'InvalidToken', 'Bad token scope'))
    assert.equal((await verifiers.accessFull(info(`Bearer ${full.accessJwt}`))).scope, 'com.atproto.access')
    // Expired: 400 ExpiredToken, which clients take as "refresh now".
    t.clock.advance(2 * 3600_000)
    await assert.rejects(async () => verifiers.accessStandard(info(`Bearer ${full.accessJwt}`)), xrpcError(400, 'ExpiredToken'))
  } finally {
    t.cleanup()
  }
})

test('access: a session token is checked without a promise; refusals are thrown as they come, a revoked session at once', async () => {
  const { t, verifiers } = setup({ oauth: true })
  try {
    const s = verifiers.sessions
    const full = s.createSession(ALICE, null)
    // Synchronous, so that the router goes on in the same turn (no microtask per request).
    const verified = verifiers.accessStandard(info(`Bearer ${full.accessJwt}`))
    assert.ok(!(verified instanceof Promise))
    assert.deepEqual(verified, { kind: 'access', did: ALICE, scope: 'com.atproto.access', appPasswordName: null })
    assert.throws(() => verifiers.accessStandard(info()), xrpcError(401, 'AuthMissing', 'Authentication Required'))
    assert.throws(() => verifiers.accessStandard(info(`Bearer ${full.accessJwt}x`)), xrpcError(400, 'InvalidToken', 'Token could not be verified'))
    // The signature of a token seen before is remembered, its session is not: ending the session
    // refuses the very next use of the token.
    assert.ok(s.store.revokeRefreshToken(s.verifyRefreshToken(full.refreshJwt).tokenId))
    assert.throws(() => verifiers.accessStandard(info(`Bearer ${full.accessJwt}`)), xrpcError(400, 'ExpiredToken', 'Token has been revoked'))
    // OAuth (DPoP) is the one asynchronous check.
    const dpop = verifiers.accessStandard(info('DPoP abc'))
    assert.ok(dpop instanceof Promise)
    assert.equal((await dpop).did, CAROL)
  } finally {
    t.cleanup()
  }
})

test('access: the takendown scope only where added; checkTakedown / checkDeactivated look the account up', async () => {
  const { t, verifiers } = setup()
  try {
    const s = verifiers.sessions
    const down = s.createSession(ALICE, null, { takendown: true }).accessJwt
    await assert.rejects(async () => verifiers.accessStandard(info(`Bearer ${down}`)), xrpcError(400, 'InvalidToken', 'Bad token scope'))
    const withTakendown = verifiers.access({ scopes: ACCESS_FULL, additional: ['com.atproto.takendown'] })
    assert.equal((await withTakendown(info(`Bearer ${down}`))).scope, 'com.atproto.takendown')
    // checkTakedown drops the takendown scope whatever was added.
    const strict = verifiers.access({ additional: ['com.atproto.takendown'], checkTakedown: true, checkDeactivated: true })
    await assert.rejects(async () => strict(info(`Bearer ${down}`)), xrpcError(400, 'InvalidToken', 'Bad token scope'))

    // Tokens the official PDS issued (no session binding), so the status checks are what refuses them.
    const key = hmacKey(SECRET)
    const iat = Math.floor(t.clock.now() / 1000)
    const official = (sub: string) => signHs256Jwt('at+jwt', { scope: 'com.atproto.access', aud: SERVICE_DID, sub, iat, exp: iat + 7200 }, key)
    assert.equal((await strict(info(`Bearer ${official(ALICE)}`))).did, ALICE)
    t.db.prepare(`UPDATE actor SET takedownRef = 'x' WHERE did = ?`).run(ALICE)
    await assert.rejects(async () => strict(info(`Bearer ${official(ALICE)}`)), xrpcError(401, 'AccountTakedown', 'Account has been taken down'))
    assert.equal((await verifiers.accessStandard(info(`Bearer ${official(ALICE)}`))).did, ALICE) // no check asked for
    t.store.deactivateAccount(BOB)
    await assert.rejects(async () => strict(info(`Bearer ${official(BOB)}`)), xrpcError(401, 'AccountDeactivated', 'Account is deactivated'))
    assert.equal((await verifiers.access({ checkTakedown: true })(info(`Bearer ${official(BOB)}`))).did, BOB)
    await assert.rejects(async () => strict(info(`Bearer ${official(CAROL)}`)), xrpcError(403, 'AccountNotFound', 'Account not found'))
  } finally {
    t.cleanup()
  }
})

test('access: DPoP goes to the OAuth verifier when one is plugged in, with the method\'s options', async () => {
  const { t, verifiers } = setup({ oauth: true })
  try {
    const res = await verifiers.access({ scopes: ['com.atproto.appPass'] })(info('DPoP token'))
    assert.deepEqual(res, { kind: 'access', did: CAROL, scope: 'com.atproto.appPass', appPasswordName: null })
  } finally {
    t.cleanup()
  }
})

test('optional: nothing → none, a token → access (and its errors), Basic → admin', async () => {
  const { t, verifiers } = setup()
  try {
    const optional = verifiers.optional({ additional: ['com.atproto.takendown'] })
    const { accessJwt } = verifiers.sessions.createSession(ALICE, null)
    assert.deepEqual(await optional(info()), { kind: 'none' })
    assert.equal((await optional(info(`Bearer ${accessJwt}`))).kind, 'access')
    assert.deepEqual(await optional(info(basic('admin', ADMIN_PASSWORD))), { kind: 'admin' })
    await assert.rejects(async () => optional(info('Bearer nope')), xrpcError(400, 'InvalidToken'))
    await assert.rejects(async () => optional(info(basic('admin', 'wrong'))), xrpcError(401, 'AuthenticationRequired'))
  } finally {
    t.cleanup()
  }
})

test('refresh: refresh tokens only; allowExpired for deleteSession', async () => {
  const { t, verifiers } = setup()
  try {
    const { accessJwt, refreshJwt } = verifiers.sessions.createSession(ALICE, { name: 'phone', privileged: false })
    const claims = JSON.parse(Buffer.from(refreshJwt.split('.')[1], 'base64url').toString())
    assert.deepEqual(await verifiers.refresh()(info(`Bearer ${refreshJwt}`)), {
      kind: 'refresh',
      did: ALICE,
      tokenId: claims.jti,
      appPasswordName: 'phone',
      expiresAt: claims.exp * 1000,
    })
    await assert.rejects(async () => verifiers.refresh()(info()), xrpcError(401, 'AuthMissing'))
    await assert.rejects(async () => verifiers.refresh()(info(basic('admin', ADMIN_PASSWORD))), xrpcError(401, 'AuthMissing'))
    await assert.rejects(async () => verifiers.refresh()(info(`Bearer ${accessJwt}`)), xrpcError(400, 'InvalidToken', 'Invalid token type'))
    t.clock.advance(91 * 24 * 3600_000)
    await assert.rejects(async () => verifiers.refresh()(info(`Bearer ${refreshJwt}`)), xrpcError(400, 'ExpiredToken'))
    assert.equal((await verifiers.refresh({ allowExpired: true })(info(`Bearer ${refreshJwt}`))).tokenId, claims.jti)
  } finally {
    t.cleanup()
  }
})

test('admin: Basic admin:<password> only (passwords may hold colons); anything else 401', async () => {
  const { t, verifiers } = setup()
  try {
    assert.deepEqual(await verifiers.admin(info(basic('admin', ADMIN_PASSWORD))), { kind: 'admin' })
    assert.deepEqual(await verifiers.admin(info(`basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`)), { kind: 'admin' })
    for (const header of [
      undefined,
      basic('admin', 'wrong'),
      basic('root', ADMIN_PASSWORD),
      basic('admin', `${ADMIN_PASSWORD}x`),
      `Basic ${Buffer.from('admin').toString('base64')}`,
      'Basic',
      'Basic a b',
      'Weird x',
      'Bearer x',
    ]) {
      await assert.rejects(async () => verifiers.admin(info(header)), xrpcError(401, 'AuthenticationRequired', 'Authentication Required'), String(header))
    }
  } finally {
    t.cleanup()
  }
  const none = setup({ adminPassword: null })
  try {
    await assert.rejects(async () => none.verifiers.admin(info(basic('admin', ''))), xrpcError(401, 'AuthenticationRequired'))
  } finally {
    none.t.cleanup()
  }
})

test('moderator: admin Basic, or a service JWT from the moderation service (or its labeler)', async () => {
  const { t, verifiers, modKey, userKey } = setup()
  try {
    const nsid = 'com.atproto.admin.getAccountInfo'
    assert.deepEqual(await verifiers.moderator(info(basic('admin', ADMIN_PASSWORD), nsid)), { kind: 'admin' })
    const mod = createServiceJwt({ iss: MOD_DID, aud: SERVICE_DID, lxm: nsid, keypair: modKey })
    assert.deepEqual(await verifiers.moderator(info(`Bearer ${mod}`, nsid)), { kind: 'service', iss: MOD_DID, did: MOD_DID, aud: SERVICE_DID, lxm: nsid })
    const labeler = createServiceJwt({ iss: `${MOD_DID}#atproto_labeler`, aud: SERVICE_DID, lxm: nsid, keypair: modKey })
    assert.equal(((await verifiers.moderator(info(`Bearer ${labeler}`, nsid))) as { did: string }).did, MOD_DID)
    const user = createServiceJwt({ iss: ALICE, aud: SERVICE_DID, lxm: nsid, keypair: userKey })
    await assert.rejects(async () => verifiers.moderator(info(`Bearer ${user}`, nsid)), xrpcError(401, 'UntrustedIss', 'Untrusted issuer'))
    await assert.rejects(async () => verifiers.moderator(info(basic('admin', 'no'), nsid)), xrpcError(401, 'AuthenticationRequired'))
    await assert.rejects(async () => verifiers.moderator(info('Bearer a b', nsid)), xrpcError(400, 'InvalidToken'))
  } finally {
    t.cleanup()
  }
  const noMod = setup({ modServiceDid: null })
  try {
    const token = createServiceJwt({ iss: MOD_DID, aud: SERVICE_DID, lxm: 'x.y.z', keypair: noMod.modKey })
    await assert.rejects(async () => noMod.verifiers.moderator(info(`Bearer ${token}`, 'x.y.z')), xrpcError(401, 'UntrustedIss'))
  } finally {
    noMod.t.cleanup()
  }
})

test('userServiceAuth: aud is this PDS, lxm the method called, signed by the issuer\'s key', async () => {
  const { t, verifiers, userKey, resolved } = setup()
  try {
    const nsid = 'com.atproto.server.createAccount'
    const token = createServiceJwt({ iss: ALICE, aud: SERVICE_DID, lxm: nsid, keypair: userKey })
    assert.deepEqual(await verifiers.userServiceAuth(info(`Bearer ${token}`, nsid)), {
      kind: 'service',
      iss: ALICE,
      did: ALICE,
      aud: SERVICE_DID,
      lxm: nsid,
    })
    assert.deepEqual(resolved, [[ALICE, false]])
    await assert.rejects(async () => verifiers.userServiceAuth(info(`Bearer ${token}`, 'com.atproto.repo.uploadBlob')), xrpcError(401, 'BadJwtLexiconMethod'))
    const elsewhere = createServiceJwt({ iss: ALICE, aud: 'did:web:other.example', lxm: nsid, keypair: userKey })
    await assert.rejects(async () => verifiers.userServiceAuth(info(`Bearer ${elsewhere}`, nsid)), xrpcError(401, 'BadJwtAudience'))
    const forged = createServiceJwt({ iss: BOB, aud: SERVICE_DID, lxm: nsid, keypair: Secp256k1Keypair.create() })
    await assert.rejects(async () => verifiers.userServiceAuth(info(`Bearer ${forged}`, nsid)), xrpcError(401, 'BadJwtSignature'))
    await assert.rejects(async () => verifiers.userServiceAuth(info(undefined, nsid)), xrpcError(401, 'MissingJwt', 'missing jwt'))
    await assert.rejects(async () => verifiers.userServiceAuth(info(basic('admin', ADMIN_PASSWORD), nsid)), xrpcError(401, 'MissingJwt'))
    // A session token is no service token.
    const session = verifiers.sessions.createSession(ALICE, null).accessJwt
    await assert.rejects(async () => verifiers.userServiceAuth(info(`Bearer ${session}`, nsid)), xrpcError(401, 'BadJwtType'))

    // Optional: none without credentials; a non-Bearer header is refused.
    assert.deepEqual(await verifiers.userServiceAuthOptional(info(undefined, nsid)), { kind: 'none' })
    assert.equal((await verifiers.userServiceAuthOptional(info(`Bearer ${token}`, nsid))).kind, 'service')
    await assert.rejects(async () => verifiers.userServiceAuthOptional(info(basic('admin', ADMIN_PASSWORD), nsid)), xrpcError(401, 'AuthenticationRequired', 'Invalid authorization header'))
  } finally {
    t.cleanup()
  }
})

test('accessOrUserServiceAuth: a token with lxm is service auth, any other goes through access', async () => {
  const { t, verifiers, userKey } = setup()
  try {
    const nsid = 'com.atproto.repo.uploadBlob'
    const verify = verifiers.accessOrUserServiceAuth({ checkTakedown: true })
    const service = createServiceJwt({ iss: ALICE, aud: SERVICE_DID, lxm: nsid, keypair: userKey })
    assert.equal((await verify(info(`Bearer ${service}`, nsid))).kind, 'service')
    const { accessJwt } = verifiers.sessions.createSession(BOB, null)
    assert.deepEqual(await verify(info(`Bearer ${accessJwt}`, nsid)), { kind: 'access', did: BOB, scope: 'com.atproto.access', appPasswordName: null })
    await assert.rejects(async () => verify(info('Bearer garbage', nsid)), xrpcError(400, 'InvalidToken'))
    await assert.rejects(async () => verify(info(undefined, nsid)), xrpcError(401, 'AuthMissing'))
  } finally {
    t.cleanup()
  }
})

test('didDocSigningKeyResolver picks #atproto or #atproto_label and refuses unresolvable issuers', async () => {
  const key = Secp256k1Keypair.create()
  const label = Secp256k1Keypair.create()
  const doc: DidDocument = {
    id: MOD_DID,
    verificationMethod: [
      { id: `${MOD_DID}#atproto`, type: 'Multikey', controller: MOD_DID, publicKeyMultibase: key.multikey() },
      { id: `${MOD_DID}#atproto_label`, type: 'Multikey', controller: MOD_DID, publicKeyMultibase: label.multikey() },
    ],
  } as DidDocument
  const calls: Array<[string, boolean | undefined]> = []
  const resolve = didDocSigningKeyResolver({
    resolve: async (did, forceRefresh) => {
      calls.push([did, forceRefresh])
      if (did === MOD_DID) return doc
      if (did === 'did:plc:throwsaaaaaaaaaaaaaaaaaaa') throw new Error('network')
      if (did === 'did:plc:keylessaaaaaaaaaaaaaaaaaa') return { id: did } as DidDocument
      return null
    },
  })
  assert.equal(await resolve(MOD_DID, false), key.did())
  assert.equal(await resolve(`${MOD_DID}#atproto_labeler`, true), label.did())
  assert.deepEqual(calls, [
    [MOD_DID, false],
    [MOD_DID, true],
  ])
  await assert.rejects(async () => resolve('did:plc:unknownaaaaaaaaaaaaaaaaaa', false), xrpcError(401, 'AuthenticationRequired', 'could not resolve iss did'))
  await assert.rejects(async () => resolve('did:plc:throwsaaaaaaaaaaaaaaaaaaa', false), xrpcError(401, 'AuthenticationRequired', 'could not resolve iss did'))
  await assert.rejects(async () => resolve('did:plc:keylessaaaaaaaaaaaaaaaaaa', false), xrpcError(401, 'AuthenticationRequired', 'missing or bad key in did doc'))
})

test('through the XRPC router over HTTP: statuses and error bodies as official', async () => {
  const { t, verifiers } = setup()
  const server = createXrpcServer({ validateResponses: true })
  server.register({
    nsid: 'com.atproto.server.getSession',
    auth: verifiers.accessStandard,
    handler: (ctx) => ({ encoding: 'application/json', body: { handle: 'alice.test', did: ctx.auth.did } }),
  })
  const net = await listen(server.httpServer)
  try {
    const call = (authorization?: string) =>
      fetch(`${net.url}/xrpc/com.atproto.server.getSession`, { headers: authorization ? { authorization } : {} })
    const { accessJwt } = verifiers.sessions.createSession(ALICE, null)
    const ok = await call(`Bearer ${accessJwt}`)
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { handle: 'alice.test', did: ALICE })
    assert.equal(ok.headers.get('cache-control'), 'private')

    const missing = await call()
    assert.equal(missing.status, 401)
    assert.deepEqual(await missing.json(), { error: 'AuthMissing', message: 'Authentication Required' })

    const bad = await call('Bearer abc.def.ghi')
    assert.equal(bad.status, 400)
    assert.deepEqual(await bad.json(), { error: 'InvalidToken', message: 'Token could not be verified' })

    t.clock.advance(3 * 3600_000)
    const expired = await call(`Bearer ${accessJwt}`)
    assert.equal(expired.status, 400)
    assert.deepEqual(await expired.json(), { error: 'ExpiredToken', message: 'Token has expired' })
  } finally {
    await net.close()
    t.cleanup()
  }
})
