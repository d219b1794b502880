// Client discovery and authentication: https client_id metadata documents fetched through the
// SSRF guard (served here by a loopback HTTP server, so the fetch is redirected there with the
// guard relaxed for that one address; the guard itself is exercised with a resolver that maps
// the client's hostname to a private address), the atproto profile's metadata rules, and
// confidential clients' private_key_jwt assertions at PAR and token.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { safeFetch } from '../../src/identity/safe-fetch.ts'
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, ClientManager, type MetadataFetch } from '../../src/oauth/client.ts'
import { OAuthError } from '../../src/oauth/errors.ts'
import { createLexiconFetcher, nsidAuthorityDomain } from '../../src/oauth/lexicons.ts'
import { OAuthProvider } from '../../src/oauth/provider.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { codeFrom, type DpopKey, dpopProof, makeDpopKey, pkce, signK256Jwt } from './helpers.ts'

const CLIENT_HOST = 'client.example.com'
const docs = new Map<string, { status?: number; body: string }>()
let server: http.Server
let port: number
let pds: TestPds

/** Sends https://client.example.com/… to the local server, through safeFetch with its real limits. */
const redirectedFetch: MetadataFetch = (url, opts) => {
  const u = new URL(url)
  assert.equal(u.hostname, CLIENT_HOST)
  return safeFetch(`http://127.0.0.1:${port}${u.pathname}`, { ...opts, allowPrivate: true })
}

function serve(path: string, body: unknown, status = 200): string {
  docs.set(path, { status, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return `https://${CLIENT_HOST}${path}`
}

function webMetadata(clientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: clientId,
    client_name: 'Example',
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [`https://${CLIENT_HOST}/callback`],
    scope: 'atproto transition:generic',
    token_endpoint_auth_method: 'none',
    dpop_bound_access_tokens: true,
    ...extra,
  }
}

function newProvider(): OAuthProvider {
  return new OAuthProvider({
    issuer: pds.url,
    serviceDid: pds.hearth.config.service.did,
    jwtSecret: 'jwt-secret-for-tests-0123456789abcdef',
    dpopSecret: null,
    accounts: pds.hearth.services.accounts,
    fetchClientMetadata: redirectedFetch,
  })
}

async function expectOAuthError(p: Promise<unknown>, error: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OAuthError, String(err))
    assert.equal(err.error, error)
    if (pattern) assert.match(err.description, pattern)
    return true
  })
}

before(async () => {
  server = http.createServer((req, res) => {
    const doc = docs.get(req.url ?? '')
    if (!doc) return void res.writeHead(404).end()
    res.writeHead(doc.status ?? 200, { 'content-type': 'application/json' }).end(doc.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
  pds = await startTestPds()
})
after(async () => {
  await new Promise((resolve) => server.close(resolve))
  await pds?.close()
})


/**
 * A confidential client's PAR parameters (its assertion left to the caller), the PKCE verifier,
 * and DPoP proofs as the provider's own verifier checks them (proof checks are tested elsewhere).
 */
function confidentialRequest(provider: OAuthProvider, clientId: string, key: DpopKey) {
  const proofFor = async (path: string) => {
    const url = new URL(path, pds.url)
    return provider.dpop.check('POST', url, { dpop: await dpopProof(key, { htm: 'POST', htu: url.href, nonce: provider.dpop.nonces.next() }) })
  }
  const { verifier, challenge } = pkce()
  const parBody = {
    client_id: clientId,
    client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
    response_type: 'code',
    redirect_uri: `https://${CLIENT_HOST}/callback`,
    scope: 'atproto transition:generic',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }
  return { proofFor, verifier, parBody }
}
describe('client metadata discovery', () => {
  const manager = () => new ClientManager({ issuer: 'https://pds.example', fetch: redirectedFetch })

  it('accepts a valid document whose client_id is its URL', async () => {
    const id = serve('/ok/client-metadata.json', {})
    docs.set('/ok/client-metadata.json', { body: JSON.stringify(webMetadata(id)) })
    const client = await manager().getClient(id)
    assert.equal(client.metadata.client_name, 'Example')
    assert.equal(client.isLoopback, false)
  })

  it('refuses documents breaking the atproto profile', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['/mismatch.json', { client_id: 'https://other.example.com/x.json' }, /client_id does not match/],
      ['/nodpop.json', { dpop_bound_access_tokens: false }, /dpop_bound_access_tokens/],
      ['/noatproto.json', { scope: 'transition:generic' }, /atproto/],
      ['/implicit.json', { grant_types: ['authorization_code', 'implicit'] }, /implicit/],
      ['/secret.json', { token_endpoint_auth_method: 'client_secret_post' }, /client_secret_post/],
      ['/pkjwt.json', { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256' }, /jwks/],
      ['/httpredirect.json', { redirect_uris: ['http://client.example.com/cb'] }, /hostname|http/],
    ]
    for (const [path, patch, pattern] of cases) {
      const id = `https://${CLIENT_HOST}${path}`
      serve(path, webMetadata(id, patch))
      await expectOAuthError(manager().getClient(id), 'invalid_client_metadata', pattern)
    }
  })

  it('refuses malformed, missing, oversized and private-address documents', async () => {
    await expectOAuthError(manager().getClient(serve('/garbage.json', '{not json')), 'invalid_client_metadata', /not JSON/)
    await expectOAuthError(manager().getClient(serve('/array.json', [1, 2])), 'invalid_client_metadata')
    await expectOAuthError(manager().getClient(`https://${CLIENT_HOST}/missing.json`), 'invalid_client_metadata', /HTTP 404/)
    const huge = serve('/huge.json', {})
    docs.set('/huge.json', { body: JSON.stringify({ ...webMetadata(huge), padding: 'x'.repeat(200 * 1024) }) })
    await expectOAuthError(manager().getClient(huge), 'invalid_client_metadata')
    // The real guard, with the client's hostname resolving to a private address.
    const guarded = new ClientManager({
      issuer: 'https://pds.example',
      fetch: (url, opts) => safeFetch(url, { ...opts, resolve: async () => [{ address: '10.1.2.3', family: 4 }] }),
    })
    await expectOAuthError(guarded.getClient(`https://${CLIENT_HOST}/internal.json`), 'invalid_client_metadata', /non-public|not allowed|private/i)
    const literal = new ClientManager({ issuer: 'https://pds.example' })
    await expectOAuthError(literal.getClient('https://127.0.0.1/client-metadata.json'), 'invalid_client_metadata')
    // Not a discoverable id at all.
    await expectOAuthError(manager().getClient('http://client.example.com/x.json'), 'invalid_client_metadata', /https/)
    await expectOAuthError(manager().getClient(`https://${CLIENT_HOST}/`), 'invalid_client_metadata', /path/)
  })

  it('builds loopback clients from their id', async () => {
    const id = `http://localhost?redirect_uri=${encodeURIComponent('http://127.0.0.1:8080/cb')}&scope=${encodeURIComponent('atproto transition:generic')}`
    const client = await manager().getClient(id)
    assert.equal(client.isLoopback, true)
    assert.deepEqual(client.metadata.redirect_uris, ['http://127.0.0.1:8080/cb'])
    assert.equal(client.metadata.token_endpoint_auth_method, 'none')
  })
})

describe('confidential clients (private_key_jwt)', () => {
  it('authenticates assertions, refuses replays and a different key at refresh', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
    const clientId = `https://${CLIENT_HOST}/confidential.json`
    serve('/confidential.json', webMetadata(clientId, { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [jwk] } }))
    const provider = newProvider()
    const { did } = await pds.createAccount('conf')
    const assertion = (jti = randomUUID()) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(pds.url)
        .setJti(jti)
        .setIssuedAt()
        .sign(privateKey)
    const key = await makeDpopKey()
    const { proofFor, verifier, parBody } = confidentialRequest(provider, clientId, key)
    await expectOAuthError(provider.pushedAuthorizationRequest({ ...parBody }, await proofFor('/oauth/par')), 'invalid_request', /client_assertion/)
    const reused = await assertion()
    const par = await provider.pushedAuthorizationRequest({ ...parBody, client_assertion: reused }, await proofFor('/oauth/par'))
    assert.match(par.request_uri, /^urn:ietf:params:oauth:request_uri:req-/)
    await expectOAuthError(provider.pushedAuthorizationRequest({ ...parBody, client_assertion: reused }, await proofFor('/oauth/par')), 'invalid_grant', /jti reused/)
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(pds.url)
      .setJti(randomUUID())
      .setIssuedAt()
      .sign((await generateKeyPair('ES256')).privateKey)
    await expectOAuthError(provider.pushedAuthorizationRequest({ ...parBody, client_assertion: forged }, await proofFor('/oauth/par')), 'invalid_client')

    const code = codeFrom(await provider.acceptAuthorization(par.request_uri, did, 'dev-conf'))
    const creds = async () => ({ client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: await assertion() })
    const tokens = await provider.token(
      { ...(await creds()), grant_type: 'authorization_code', code, redirect_uri: `https://${CLIENT_HOST}/callback`, code_verifier: verifier },
      await proofFor('/oauth/token'),
    )
    assert.equal(tokens.sub, did)
    assert.ok(tokens.refresh_token)
    const refreshed = await provider.token({ ...(await creds()), grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }, await proofFor('/oauth/token'))
    assert.ok(refreshed.refresh_token)
    // Without the assertion, the confidential client is refused.
    await expectOAuthError(
      provider.token({ client_id: clientId, grant_type: 'refresh_token', refresh_token: refreshed.refresh_token as string }, await proofFor('/oauth/token')),
      'invalid_request',
    )
  })
})

describe('permission sets (include: scopes)', () => {
  it('resolves a published set at PAR and expands it into the token scope, within its namespace', async () => {
    const fetched: string[] = []
    const provider = new OAuthProvider({
      issuer: pds.url,
      serviceDid: pds.hearth.config.service.did,
      jwtSecret: 'jwt-secret-for-tests-0123456789abcdef',
      dpopSecret: null,
      accounts: pds.hearth.services.accounts,
      lexiconFetcher: async (nsid) => {
        fetched.push(nsid)
        if (nsid !== 'com.example.calendar.authFull') return null
        return {
          uri: `at://did:plc:lexauthority/com.atproto.lexicon.schema/${nsid}`,
          lexicon: {
            lexicon: 1,
            id: nsid,
            defs: {
              main: {
                type: 'permission-set',
                title: 'Calendar',
                permissions: [
                  { type: 'permission', resource: 'repo', collection: ['com.example.calendar.event'] },
                  { type: 'permission', resource: 'repo', collection: ['app.bsky.feed.post'] },
                  { type: 'permission', resource: 'rpc', lxm: ['com.example.calendar.getEvents'], aud: '*' },
                ],
              },
            },
          },
        }
      },
    })
    const { did } = await pds.createAccount('cal')
    const scope = 'atproto include:com.example.calendar.authFull'
    const clientId = `http://localhost?${new URLSearchParams({ redirect_uri: 'http://127.0.0.1/callback', scope })}`
    const key = await makeDpopKey()
    const proofFor = async (path: string) => {
      const url = new URL(path, pds.url)
      return provider.dpop.check('POST', url, { dpop: await dpopProof(key, { htm: 'POST', htu: url.href, nonce: provider.dpop.nonces.next() }) })
    }
    const { verifier, challenge } = pkce()
    const base = { client_id: clientId, response_type: 'code', redirect_uri: 'http://127.0.0.1/callback', code_challenge: challenge, code_challenge_method: 'S256' }
    const par = await provider.pushedAuthorizationRequest({ ...base, scope }, await proofFor('/oauth/par'))
    const code = codeFrom(await provider.acceptAuthorization(par.request_uri, did, 'dev-cal'))
    const tokens = await provider.token(
      { client_id: clientId, grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1/callback', code_verifier: verifier },
      await proofFor('/oauth/token'),
    )
    const granted = tokens.scope.split(' ')
    assert.ok(granted.includes('atproto'))
    assert.ok(granted.some((s) => s.startsWith('repo:com.example.calendar.event')), tokens.scope)
    assert.ok(granted.some((s) => s.startsWith('rpc:com.example.calendar.getEvents')), tokens.scope)
    assert.ok(!tokens.scope.includes('app.bsky.feed.post'), 'a set cannot grant outside its namespace')
    assert.ok(!tokens.scope.includes('include:'))
    // Stored in the official lexicon table.
    const row = pds.hearth.services.accounts.db.prepare(`SELECT "uri", "lastSucceededAt" FROM "lexicon" WHERE "nsid" = ?`).get('com.example.calendar.authFull') as
      | { uri: string; lastSucceededAt: string }
      | undefined
    assert.ok(row?.lastSucceededAt)

    const unknownScope = 'atproto include:com.example.nothing.authFull'
    const unknownClient = `http://localhost?${new URLSearchParams({ redirect_uri: 'http://127.0.0.1/callback', scope: unknownScope })}`
    await expectOAuthError(
      provider.pushedAuthorizationRequest({ ...base, client_id: unknownClient, scope: unknownScope }, await proofFor('/oauth/par')),
      'invalid_scope',
      /com\.example\.nothing\.authFull/,
    )
    assert.ok(fetched.includes('com.example.nothing.authFull'))
  })
})

describe('lexicon fetcher', () => {
  it('finds the authority by DNS, the PDS by DID document, and reads the schema record', async () => {
    assert.equal(nsidAuthorityDomain('com.example.calendar.authFull'), 'calendar.example.com')
    const did = 'did:plc:lexauthority'
    const nsid = 'com.example.calendar.authFull'
    docs.set(`/xrpc/com.atproto.repo.getRecord?repo=${encodeURIComponent(did)}&collection=com.atproto.lexicon.schema&rkey=${nsid}`, {
      body: JSON.stringify({ uri: `at://${did}/com.atproto.lexicon.schema/${nsid}`, value: { lexicon: 1, id: nsid, defs: { main: { type: 'permission-set', permissions: [] } } } }),
    })
    const lookups: string[] = []
    const fetcher = createLexiconFetcher({
      allowPrivate: true,
      resolveTxt: async (name) => {
        lookups.push(name)
        if (name === '_lexicon.calendar.example.com') return [['did=', did]]
        throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' })
      },
      resolveDid: async (d) =>
        d === did
          ? { id: did, service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: `http://127.0.0.1:${port}` }] }
          : null,
    })
    const found = await fetcher(nsid)
    assert.equal(found?.uri, `at://${did}/com.atproto.lexicon.schema/${nsid}`)
    assert.equal((found?.lexicon as { id: string }).id, nsid)
    assert.deepEqual(lookups, ['_lexicon.calendar.example.com'])
    assert.equal(await fetcher('org.unknown.thing'), null)
  })
})

describe('ES256K client assertions and signed request objects (JAR)', () => {
  it('authenticates a secp256k1 client key at PAR and token, and refuses another key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
    const clientId = `https://${CLIENT_HOST}/k256.json`
    serve('/k256.json', webMetadata(clientId, { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256K', jwks: { keys: [{ kty, crv, x, y, kid: 'k256', alg: 'ES256K', use: 'sig' }] } }))
    const provider = newProvider()
    const { did } = await pds.createAccount('kay')
    const assertion = (key = privateKey, claims: Record<string, unknown> = {}) =>
      signK256Jwt(key, { alg: 'ES256K', kid: 'k256' }, { iss: clientId, sub: clientId, aud: pds.url, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    const key = await makeDpopKey()
    const { proofFor, verifier, parBody } = confidentialRequest(provider, clientId, key)
    const par = await provider.pushedAuthorizationRequest({ ...parBody, client_assertion: assertion() }, await proofFor('/oauth/par'))
    assert.match(par.request_uri, /^urn:ietf:params:oauth:request_uri:req-/)
    const other = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey
    await expectOAuthError(provider.pushedAuthorizationRequest({ ...parBody, client_assertion: assertion(other) }, await proofFor('/oauth/par')), 'invalid_client', /signature/)
    await expectOAuthError(
      provider.pushedAuthorizationRequest({ ...parBody, client_assertion: assertion(privateKey, { aud: 'https://elsewhere.example' }) }, await proofFor('/oauth/par')),
      'invalid_client',
      /aud/,
    )
    await expectOAuthError(
      provider.pushedAuthorizationRequest({ ...parBody, client_assertion: assertion(privateKey, { iat: Math.floor(Date.now() / 1000) - 600 }) }, await proofFor('/oauth/par')),
      'invalid_client',
      /iat/,
    )
    const code = codeFrom(await provider.acceptAuthorization(par.request_uri, did, 'dev-kay'))
    const tokens = await provider.token(
      { client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: assertion(), grant_type: 'authorization_code', code, redirect_uri: `https://${CLIENT_HOST}/callback`, code_verifier: verifier },
      await proofFor('/oauth/token'),
    )
    assert.equal(tokens.sub, did)
    const refreshed = await provider.token(
      { client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: assertion(), grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string },
      await proofFor('/oauth/token'),
    )
    assert.ok(refreshed.access_token)
  })

  it('accepts a request object signed with the client key (ES256 and ES256K), once, and refuses a forged, stale or invalid one', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
    const { kty, crv, x, y } = k256.publicKey.export({ format: 'jwk' })
    const clientId = `https://${CLIENT_HOST}/jar.json`
    serve('/jar.json', webMetadata(clientId, {
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'p256', alg: 'ES256', use: 'sig' }, { kty, crv, x, y, kid: 'k256', alg: 'ES256K', use: 'sig' }] },
    }))
    const provider = newProvider()
    const assertion = () =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'p256' }).setIssuer(clientId).setSubject(clientId).setAudience(pds.url).setJti(randomUUID()).setIssuedAt().sign(privateKey)
    const { challenge } = pkce()
    const params = (extra: Record<string, unknown> = {}) => ({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: `https://${CLIENT_HOST}/callback`,
      scope: 'atproto transition:generic',
      state: 'jar-state',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      iss: clientId,
      aud: pds.url,
      jti: randomUUID(),
      iat: Math.floor(Date.now() / 1000),
      ...extra,
    })
    const signP256 = (payload: Record<string, unknown>, key = privateKey) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'p256' }).sign(key)
    const par = async (request: string) =>
      provider.pushedAuthorizationRequest({ client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: await assertion(), request }, null)

    const payload = params()
    const jar = await signP256(payload)
    const ok = await par(jar)
    const view = await provider.loadAuthorizationRequest(clientId, ok.request_uri)
    assert.equal(view.parameters.state, 'jar-state', 'the parameters come from the request object')
    assert.equal(view.parameters.redirect_uri, `https://${CLIENT_HOST}/callback`)
    await expectOAuthError(par(jar), 'invalid_request', /replayed/)
    const viaK256 = await par(signK256Jwt(k256.privateKey, { alg: 'ES256K', kid: 'k256' }, params()))
    assert.match(viaK256.request_uri, /^urn:ietf:params:oauth:request_uri:req-/)

    const forged = await signP256(params(), (await generateKeyPair('ES256')).privateKey)
    await expectOAuthError(par(forged), 'invalid_request', /Invalid "request" object/)
    await expectOAuthError(par(await signP256(params({ aud: 'https://elsewhere.example' }))), 'invalid_request', /aud/)
    await expectOAuthError(par(await signP256(params({ iss: 'https://other.example.com/x.json' }))), 'invalid_request', /iss/)
    await expectOAuthError(par(await signP256(params({ iat: Math.floor(Date.now() / 1000) - 120 }))), 'invalid_request', /iat/)
    await expectOAuthError(par(await signP256(params({ jti: undefined }))), 'invalid_request', /jti/)
    await expectOAuthError(par(await signP256(params({ redirect_uri: 'https://evil.example/cb' }))), 'invalid_request', /redirect_uri/)
    await expectOAuthError(par(await signP256(params({ client_id: 'https://other.example.com/x.json' }))), 'invalid_request', /client_id/)
    // An unsigned request object from a client that did not declare request_object_signing_alg "none".
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(params())).toString('base64url')}.`
    await expectOAuthError(par(unsigned), 'invalid_request', /Invalid "request" object/)
  })

  it('accepts an unsigned request object only from a client declaring request_object_signing_alg "none"', async () => {
    const clientId = `https://${CLIENT_HOST}/jar-none.json`
    serve('/jar-none.json', webMetadata(clientId, { request_object_signing_alg: 'none' }))
    const provider = newProvider()
    const { challenge } = pkce()
    const unsigned = (p: Record<string, unknown>) =>
      `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.`
    const body = {
      client_id: clientId,
      response_type: 'code',
      redirect_uri: `https://${CLIENT_HOST}/callback`,
      scope: 'atproto',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      iat: Math.floor(Date.now() / 1000),
    }
    const res = await provider.pushedAuthorizationRequest({ client_id: clientId, request: unsigned({ ...body, jti: randomUUID() }) }, null)
    assert.match(res.request_uri, /^urn:ietf:params:oauth:request_uri:req-/)
    await expectOAuthError(provider.pushedAuthorizationRequest({ client_id: clientId, request: unsigned({ ...body, jti: randomUUID(), aud: 'https://elsewhere.example' }) }, null), 'invalid_request', /aud/)
    await expectOAuthError(provider.pushedAuthorizationRequest({ client_id: clientId, request: 'not-a-jwt' }, null), 'invalid_request')
  })
})
