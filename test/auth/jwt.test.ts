import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'
import { P256Keypair as RefP256Keypair, Secp256k1Keypair as RefSecp256k1Keypair, verifySignature as refVerifySignature } from '@atproto/crypto'
import {
  createServiceJwt,
  decodeJwt,
  hmacKey,
  JwtVerifyError,
  signHs256Jwt,
  verifyHs256Jwt,
  verifyServiceJwt,
  type VerifyServiceJwtOptions,
} from '../../src/auth/jwt.ts'
import { P256Keypair, Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { XrpcError } from '../../src/errors.ts'

const SERVICE_DID = 'did:web:pds.example.com'
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

// Made by the official PDS 0.4.217 (helpers/auth.ts createAccessToken / createRefreshToken, jose) with this secret.
const OFFICIAL_SECRET = 'official-test-secret'
const OFFICIAL_ACCESS =
  'eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6ImNvbS5hdHByb3RvLmFwcFBhc3MiLCJhdWQiOiJkaWQ6d2ViOnBkcy5leGFtcGxlLmNvbSIsInN1YiI6ImRpZDpwbGM6ZXd2aTdueHp5b3VuNnpoeHJoczY0b2l6IiwiaWF0IjoxNzk1NTQwNTEwLCJleHAiOjE3OTU1NDc3MTB9.FK_TOWAQ0sb9fnPrkpRbA78k1XqskFMRUR-on2aeRh4'
const OFFICIAL_REFRESH =
  'eyJ0eXAiOiJyZWZyZXNoK2p3dCIsImFsZyI6IkhTMjU2In0.eyJzY29wZSI6ImNvbS5hdHByb3RvLnJlZnJlc2giLCJhdWQiOiJkaWQ6d2ViOnBkcy5leGFtcGxlLmNvbSIsInN1YiI6ImRpZDpwbGM6ZXd2aTdueHp5b3VuNnpoeHJoczY0b2l6IiwianRpIjoiZml4ZWQtanRpIiwiaWF0IjoxNzk1NTQwNTEwLCJleHAiOjE4MDMzMTY1MTB9.r-KylvSoLQjS0NroU0IHTldxZHvQKQ58DN7J_JBoFzE'
const OFFICIAL_IAT = 1795540510

// Made by @atproto/xrpc-server 0.10.21 createServiceJwt with these keys.
const OFFICIAL_SERVICE_K256 = {
  token:
    'eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NksifQ.eyJpYXQiOjE3NjcyMjU2MDAsImlzcyI6ImRpZDpwbGM6ZXd2aTdueHp5b3VuNnpoeHJoczY0b2l6IiwiYXVkIjoiZGlkOndlYjpwZHMuZXhhbXBsZS5jb20iLCJleHAiOjE3NjcyMjU2NjAsImx4bSI6ImNvbS5hdHByb3RvLnNlcnZlci5jcmVhdGVBY2NvdW50IiwianRpIjoiOTEyZThmYzM4M2ViM2IwOGMwMjZmNDJmODI4MGJlYzQifQ.1imChI-p4HuvniFY9oC_XS9wr44wLzNH7Bf4lUQ_3KFeG7Zxz27oIdtEcZimRxjT--lAh44A7QpzLCkAU5UhGw',
  didKey: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme',
  lxm: 'com.atproto.server.createAccount',
}
const OFFICIAL_SERVICE_P256 = {
  token:
    'eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJpYXQiOjE3NjcyMjU2MDAsImlzcyI6ImRpZDpwbGM6ZXd2aTdueHp5b3VuNnpoeHJoczY0b2l6IiwiYXVkIjoiZGlkOndlYjpwZHMuZXhhbXBsZS5jb20iLCJleHAiOjE3NjcyMjU2NjAsImx4bSI6ImNvbS5hdHByb3RvLnJlcG8udXBsb2FkQmxvYiIsImp0aSI6IjVhYjBiZTMxNDBhMWI4ZDlmZTgxN2JlZDk1YjBlMzc1In0.RsbavoO7H07EW3eShpE2vEc9x42qQ96HVTa03s-syk1U3mA7JR_wHNFYQUB-SgLquTRdvpAyTViucjIJyMmUvw',
  didKey: 'did:key:zDnaeZcT7RrB1sJRfFcmnWLbnbk1Vy9i6ZbgwRtxDxsSqzZef',
  lxm: 'com.atproto.repo.uploadBlob',
}
const OFFICIAL_SERVICE_NOW = 1767225630

function verifyError(reason: 'expired' | 'invalid') {
  return (err: unknown) => err instanceof JwtVerifyError && err.reason === reason
}

function xrpc401(error: string) {
  return (err: unknown) => {
    assert.ok(err instanceof XrpcError, String(err))
    assert.equal(err.status, 401)
    assert.equal(err.error, error)
    return true
  }
}

test('HS256: Hearth signs exactly as the official PDS (jose) does, and verifies its tokens', () => {
  const key = hmacKey(OFFICIAL_SECRET)
  const payload = JSON.parse(Buffer.from(OFFICIAL_ACCESS.split('.')[1], 'base64url').toString())
  assert.equal(signHs256Jwt('at+jwt', payload, key), OFFICIAL_ACCESS)
  const refreshPayload = JSON.parse(Buffer.from(OFFICIAL_REFRESH.split('.')[1], 'base64url').toString())
  assert.equal(signHs256Jwt('refresh+jwt', refreshPayload, key), OFFICIAL_REFRESH)

  const access = verifyHs256Jwt(OFFICIAL_ACCESS, key, { audience: SERVICE_DID, now: OFFICIAL_IAT + 1 })
  assert.deepEqual(access.header, { typ: 'at+jwt', alg: 'HS256' })
  assert.equal(access.payload.scope, 'com.atproto.appPass')
  assert.equal(access.payload.sub, DID)
  const refresh = verifyHs256Jwt(OFFICIAL_REFRESH, key, { audience: SERVICE_DID, now: OFFICIAL_IAT + 1 })
  assert.equal(refresh.payload.jti, 'fixed-jti')
  // The secret is used as its UTF-8 bytes.
  assert.throws(() => verifyHs256Jwt(OFFICIAL_ACCESS, hmacKey('other-secret'), { audience: SERVICE_DID, now: OFFICIAL_IAT + 1 }), verifyError('invalid'))
})

test('HS256: expiry is exp <= now (as jose); allowExpired accepts any past exp', () => {
  const key = hmacKey('s')
  const token = signHs256Jwt('at+jwt', { aud: SERVICE_DID, sub: DID, iat: 100, exp: 200 }, key)
  verifyHs256Jwt(token, key, { audience: SERVICE_DID, now: 199 })
  assert.throws(() => verifyHs256Jwt(token, key, { audience: SERVICE_DID, now: 200 }), verifyError('expired'))
  verifyHs256Jwt(token, key, { audience: SERVICE_DID, now: 10 ** 12, allowExpired: true })
  // A wrong audience is reported before expiry, as jose orders its checks.
  assert.throws(() => verifyHs256Jwt(token, key, { audience: 'did:web:other', now: 300 }), verifyError('invalid'))
})

test('HS256: a token verified before (its signature remembered) still has its claims and its key checked every time', () => {
  const key = hmacKey('remembered')
  const token = signHs256Jwt('at+jwt', { aud: SERVICE_DID, sub: DID, iat: 100, exp: 200 }, key)
  for (let i = 0; i < 3; i++) verifyHs256Jwt(token, key, { audience: SERVICE_DID, now: 150 })
  assert.throws(() => verifyHs256Jwt(token, key, { audience: SERVICE_DID, now: 200 }), verifyError('expired'))
  assert.throws(() => verifyHs256Jwt(token, key, { audience: 'did:web:other', now: 150 }), verifyError('invalid'))
  assert.throws(() => verifyHs256Jwt(token, hmacKey('another'), { audience: SERVICE_DID, now: 150 }), verifyError('invalid'))
  // A token differing in one signature character is another token, checked in full.
  const at = token.length - 10
  const tampered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)
  assert.throws(() => verifyHs256Jwt(tampered, key, { audience: SERVICE_DID, now: 150 }), verifyError('invalid'))
})

test('HS256: every malformed, unsigned, re-signed or mis-claimed token is refused', () => {
  const key = hmacKey('s')
  const good = { aud: SERVICE_DID, sub: DID, iat: 100, exp: 200 }
  const now = 150
  const sign = (header: Record<string, unknown>, payload: Record<string, unknown>, secret = 's') => {
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const token = signHs256Jwt('at+jwt', good, key)
  const [h, p, s] = token.split('.')
  const cases: Record<string, string> = {
    'alg none, no signature': `${b64({ typ: 'at+jwt', alg: 'none' })}.${p}.`,
    'alg none, signature kept': `${b64({ typ: 'at+jwt', alg: 'none' })}.${p}.${s}`,
    'HS384 header': sign({ typ: 'at+jwt', alg: 'HS384' }, good),
    'ES256K header': sign({ typ: 'at+jwt', alg: 'ES256K' }, good),
    'crit header': sign({ typ: 'at+jwt', alg: 'HS256', crit: ['exp'] }, good),
    'other secret': sign({ typ: 'at+jwt', alg: 'HS256' }, good, 't'),
    'payload swapped': `${h}.${b64({ ...good, sub: 'did:plc:mallory' })}.${s}`,
    'signature truncated': `${h}.${p}.${s.slice(0, -2)}`,
    'signature with padding': `${h}.${p}.${s}=`,
    'four parts': `${token}.x`,
    'two parts': `${h}.${p}`,
    'payload not JSON': `${h}.${Buffer.from('nope').toString('base64url')}.${s}`,
    'payload an array': sign({ typ: 'at+jwt', alg: 'HS256' }, [1, 2] as unknown as Record<string, unknown>),
    'no exp': sign({ typ: 'at+jwt', alg: 'HS256' }, { aud: SERVICE_DID, sub: DID }),
    'exp a string': sign({ typ: 'at+jwt', alg: 'HS256' }, { ...good, exp: '200' }),
    'iat a string': sign({ typ: 'at+jwt', alg: 'HS256' }, { ...good, iat: 'x' }),
    'nbf in the future': sign({ typ: 'at+jwt', alg: 'HS256' }, { ...good, nbf: 180 }),
    'no aud': sign({ typ: 'at+jwt', alg: 'HS256' }, { sub: DID, exp: 200 }),
    'too long': `${h}.${b64({ ...good, pad: 'x'.repeat(20000) })}.${s}`,
    'empty': '',
  }
  for (const [name, bad] of Object.entries(cases)) {
    assert.throws(() => verifyHs256Jwt(bad, key, { audience: SERVICE_DID, now }), verifyError('invalid'), name)
  }
  // An array aud naming this service is accepted (as jose); the session layer then refuses non-strings.
  verifyHs256Jwt(sign({ typ: 'at+jwt', alg: 'HS256' }, { ...good, aud: ['did:web:x', SERVICE_DID] }), key, { audience: SERVICE_DID, now })
})

test('decodeJwt checks the compact form strictly', () => {
  assert.equal(decodeJwt('a.b'), null)
  assert.equal(decodeJwt(`${b64({ typ: 'JWT' })}.${b64({})}.AA`), null) // no alg
  assert.equal(decodeJwt(`${b64({ alg: 'HS256' })}.${b64({})}.A*A`), null) // not base64url
  assert.deepEqual(decodeJwt(`${b64({ alg: 'HS256' })}.${b64({ a: 1 })}.AAAA`)?.payload, { a: 1 })
})

test('service JWT: tokens made by @atproto/xrpc-server verify in Hearth (ES256K and ES256)', async () => {
  for (const v of [OFFICIAL_SERVICE_K256, OFFICIAL_SERVICE_P256]) {
    const payload = await verifyServiceJwt(v.token, {
      aud: SERVICE_DID,
      lxm: v.lxm,
      resolveSigningKey: (iss) => (iss === DID ? v.didKey : null),
      now: OFFICIAL_SERVICE_NOW,
    })
    assert.equal(payload.iss, DID)
    assert.equal(payload.lxm, v.lxm)
    assert.match(payload.jti as string, /^[0-9a-f]{32}$/)
  }
})

test('service JWT: Hearth tokens verify with @atproto/crypto (what xrpc-server uses), and reference-signed ones verify in Hearth', async () => {
  for (const [keypair, refKeypair] of [
    [Secp256k1Keypair.create(), await RefSecp256k1Keypair.create({ exportable: true })],
    [P256Keypair.create(), await RefP256Keypair.create({ exportable: true })],
  ] as const) {
    // Hearth → reference
    const token = createServiceJwt({ iss: DID, aud: SERVICE_DID, lxm: 'com.atproto.repo.uploadBlob', keypair })
    const [h, p, s] = token.split('.')
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { typ: 'JWT', alg: keypair.jwtAlg })
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    assert.deepEqual(Object.keys(claims), ['iat', 'iss', 'aud', 'exp', 'lxm', 'jti'])
    assert.equal(claims.exp - claims.iat, 60)
    assert.match(claims.jti, /^[0-9a-f]{32}$/)
    assert.equal(Buffer.from(s, 'base64url').length, 64)
    assert.equal(
      await refVerifySignature(keypair.did(), Buffer.from(`${h}.${p}`), Buffer.from(s, 'base64url'), { jwtAlg: keypair.jwtAlg }),
      true,
    )
    // reference → Hearth, built the way xrpc-server builds it
    const input = `${b64({ typ: 'JWT', alg: refKeypair.jwtAlg })}.${b64({ iat: 1, iss: DID, aud: SERVICE_DID, exp: 4102444800, lxm: 'com.atproto.repo.uploadBlob', jti: 'abc' })}`
    const refToken = `${input}.${Buffer.from(await refKeypair.sign(Buffer.from(input))).toString('base64url')}`
    const verified = await verifyServiceJwt(refToken, {
      aud: SERVICE_DID,
      lxm: 'com.atproto.repo.uploadBlob',
      resolveSigningKey: () => refKeypair.did(),
    })
    assert.equal(verified.iss, DID)
  }
})

test('service JWT: every rejection carries the official 401 error name', async () => {
  const keypair = Secp256k1Keypair.create()
  const other = Secp256k1Keypair.create()
  const opts: VerifyServiceJwtOptions = { aud: SERVICE_DID, lxm: 'com.atproto.repo.uploadBlob', resolveSigningKey: () => keypair.did() }
  const make = (over: Record<string, unknown> = {}, header: Record<string, unknown> = { typ: 'JWT', alg: 'ES256K' }, kp = keypair) => {
    const payload = { iat: Math.floor(Date.now() / 1000), iss: DID, aud: SERVICE_DID, exp: Math.floor(Date.now() / 1000) + 60, lxm: 'com.atproto.repo.uploadBlob', ...over }
    for (const k of Object.keys(payload)) if ((payload as Record<string, unknown>)[k] === undefined) delete (payload as Record<string, unknown>)[k]
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${Buffer.from(kp.sign(Buffer.from(input))).toString('base64url')}`
  }
  await verifyServiceJwt(make(), opts) // the baseline is valid
  const cases: Array<[string, string, string, Partial<typeof opts>?]> = [
    ['malformed', 'not.a.jwt', 'BadJwt'],
    ['no exp', make({ exp: undefined }), 'BadJwt'],
    ['aud not a string', make({ aud: [SERVICE_DID] }), 'BadJwt'],
    ['lxm not a string', make({ lxm: 5 }), 'BadJwt'],
    ['typ at+jwt', make({}, { typ: 'at+jwt', alg: 'ES256K' }), 'BadJwtType'],
    ['typ refresh+jwt', make({}, { typ: 'refresh+jwt', alg: 'ES256K' }), 'BadJwtType'],
    ['typ dpop+jwt', make({}, { typ: 'dpop+jwt', alg: 'ES256K' }), 'BadJwtType'],
    ['expired', make({ exp: Math.floor(Date.now() / 1000) - 1 }), 'JwtExpired'],
    ['other audience', make({ aud: 'did:web:elsewhere.example' }), 'BadJwtAudience'],
    ['other method', make({ lxm: 'com.atproto.server.createAccount' }), 'BadJwtLexiconMethod'],
    ['no method', make({ lxm: undefined }), 'BadJwtLexiconMethod'],
    ['iss not a DID', make({ iss: 'alice.example.com' }), 'BadJwtIss'],
    ['iss with empty fragment', make({ iss: `${DID}#` }), 'BadJwtIss'],
    ['alg none', make({}, { typ: 'JWT', alg: 'none' }), 'BadJwtSignature'],
    ['alg HS256', make({}, { typ: 'JWT', alg: 'HS256' }), 'BadJwtSignature'],
    ['alg names the other curve', make({}, { typ: 'JWT', alg: 'ES256' }), 'BadJwtSignature'],
    ['signed by another key', make({}, undefined, other), 'BadJwtSignature'],
    ['no key for the issuer', make(), 'BadJwtSignature', { resolveSigningKey: () => null }],
  ]
  for (const [name, token, error, over] of cases) {
    await assert.rejects(verifyServiceJwt(token, { ...opts, ...over }), xrpc401(error), name)
  }
  // Checks can be switched off where a caller checks aud / lxm itself.
  await verifyServiceJwt(make({ aud: 'did:web:x', lxm: undefined }), { ...opts, aud: null, lxm: null })
  // A resolver failure that is not an XrpcError becomes a 401, not a 500.
  await assert.rejects(
    verifyServiceJwt(make(), { ...opts, resolveSigningKey: () => Promise.reject(new Error('network down')) }),
    xrpc401('AuthenticationRequired'),
  )
})

test('service JWT: a signature failing against a cached key is retried once against a fresh one', async () => {
  const rotated = Secp256k1Keypair.create()
  const stale = Secp256k1Keypair.create()
  const token = createServiceJwt({ iss: DID, aud: SERVICE_DID, lxm: 'com.atproto.repo.uploadBlob', keypair: rotated })
  const calls: boolean[] = []
  await verifyServiceJwt(token, {
    aud: SERVICE_DID,
    lxm: 'com.atproto.repo.uploadBlob',
    resolveSigningKey: (_iss, forceRefresh) => {
      calls.push(forceRefresh)
      return forceRefresh ? rotated.did() : stale.did()
    },
  })
  assert.deepEqual(calls, [false, true])
  // No second resolution when the first key verifies.
  calls.length = 0
  await verifyServiceJwt(token, { aud: SERVICE_DID, lxm: 'com.atproto.repo.uploadBlob', resolveSigningKey: (_i, f) => (calls.push(f), rotated.did()) })
  assert.deepEqual(calls, [false])
})

test('service JWT: high-S signatures are accepted, as xrpc-server allows malleable ones', async () => {
  const keypair = Secp256k1Keypair.create()
  const token = createServiceJwt({ iss: DID, aud: SERVICE_DID, lxm: 'com.atproto.repo.uploadBlob', keypair })
  const [h, p, s] = token.split('.')
  const sig = Buffer.from(s, 'base64url')
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const lowS = BigInt(`0x${sig.subarray(32).toString('hex')}`)
  const highS = Buffer.from((n - lowS).toString(16).padStart(64, '0'), 'hex')
  const malleable = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), highS]).toString('base64url')}`
  const payload = await verifyServiceJwt(malleable, { aud: SERVICE_DID, lxm: 'com.atproto.repo.uploadBlob', resolveSigningKey: () => keypair.did() })
  assert.equal(payload.iss, DID)
})
