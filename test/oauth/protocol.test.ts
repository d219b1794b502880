// The OAuth protocol endpoints driven by hand (PAR → code → token → refresh → revoke) with
// jose-made DPoP proofs, against a real Hearth; the consent step is the provider's
// acceptAuthorization (the pages are tested elsewhere). Then the resource server: DPoP-bound
// tokens on XRPC writes, replay and binding checks, and the scope permission matrix.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { OAuthProvider } from '../../src/oauth/provider.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { ath, codeFrom, dpopProof, loopbackClientId, makeDpopKey, makeK256DpopKey, TestOAuthClient } from './helpers.ts'

let pds: TestPds
let provider: OAuthProvider
let alice: { did: string; handle: string }

before(async () => {
  pds = await startTestPds()
  provider = pds.hearth.services.oauth as OAuthProvider
  const acct = await pds.createAccount('alice')
  alice = { did: acct.did, handle: acct.handle }
})
after(async () => {
  await pds?.close()
})

async function newClient(scope: string): Promise<TestOAuthClient> {
  return new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
}

/** PAR + consent + code exchange; returns the token response body. */
async function signIn(client: TestOAuthClient, scope: string): Promise<{ access_token: string; refresh_token: string; scope: string; sub: string }> {
  const { res, verifier, state } = await client.par(scope)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const redirect = await provider.acceptAuthorization(res.body.request_uri as string, alice.did, 'dev-test')
  const url = new URL(redirect)
  assert.equal(url.searchParams.get('state'), state)
  assert.equal(url.searchParams.get('iss'), pds.url)
  const token = await client.exchange(codeFrom(redirect), verifier)
  assert.equal(token.status, 200, JSON.stringify(token.body))
  return token.body as { access_token: string; refresh_token: string; scope: string; sub: string }
}

const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })

describe('email visibility', () => {
  it('shows the email to an OAuth session only with transition:email', async () => {
    const scope = 'atproto transition:generic transition:email'
    const client = await newClient(scope)
    const tokens = await signIn(client, scope)
    const session = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)
    assert.equal(session.status, 200, JSON.stringify(session.body))
    assert.match(session.body.email as string, /@/)
    assert.equal(typeof session.body.emailConfirmed, 'boolean')
  })
})

describe('metadata', () => {
  it('serves the authorization server and protected resource metadata', async () => {
    const as = (await (await fetch(`${pds.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    assert.equal(as.issuer, pds.url)
    assert.equal(as.pushed_authorization_request_endpoint, `${pds.url}/oauth/par`)
    assert.equal(as.token_endpoint, `${pds.url}/oauth/token`)
    assert.equal(as.revocation_endpoint, `${pds.url}/oauth/revoke`)
    assert.equal(as.authorization_endpoint, `${pds.url}/oauth/authorize`)
    assert.equal(as.jwks_uri, `${pds.url}/oauth/jwks`)
    assert.equal(as.require_pushed_authorization_requests, true)
    assert.deepEqual(as.code_challenge_methods_supported, ['S256'])
    assert.deepEqual(as.token_endpoint_auth_methods_supported, ['none', 'private_key_jwt'])
    assert.ok((as.dpop_signing_alg_values_supported as string[]).includes('ES256'))
    assert.equal(as.client_id_metadata_document_supported, true)
    const res = await fetch(`${pds.url}/.well-known/oauth-protected-resource`)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const pr = (await res.json()) as Record<string, unknown>
    assert.equal(pr.resource, pds.url)
    assert.deepEqual(pr.authorization_servers, [pds.url])
    const jwks = (await (await fetch(`${pds.url}/oauth/jwks`)).json()) as { keys: unknown[] }
    assert.ok(Array.isArray(jwks.keys))
    assert.equal((await fetch(`${pds.url}/oauth/par`)).status, 405)
  })
})

describe('authorization code flow', () => {
  it('issues DPoP-bound tokens that write a post, rotate on refresh and die on reuse', async () => {
    const scope = 'atproto transition:generic'
    const client = await newClient(scope)
    const tokens = await signIn(client, scope)
    assert.equal(tokens.sub, alice.did)
    assert.equal(tokens.scope, scope)
    assert.match(tokens.refresh_token, /^ref-[0-9a-f]{64}$/)
    const created = await client.xrpc('POST', 'com.atproto.repo.createRecord', tokens.access_token, {
      body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post('hello via oauth') },
    })
    assert.equal(created.status, 200, JSON.stringify(created.body))
    assert.match(created.body.uri as string, /^at:\/\/did:plc:/)
    assert.ok(created.headers.get('dpop-nonce'))

    // Refresh rotates both tokens; the new access token works.
    const refreshed = await client.refresh(tokens.refresh_token)
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
    assert.notEqual(refreshed.body.refresh_token, tokens.refresh_token)
    assert.equal(refreshed.body.token_type, 'DPoP')
    assert.ok((refreshed.body.expires_in as number) >= 3599 && (refreshed.body.expires_in as number) <= 3600)
    const session = await client.xrpc('GET', 'com.atproto.server.getSession', refreshed.body.access_token as string)
    assert.equal(session.status, 200, JSON.stringify(session.body))
    assert.equal(session.body.did, alice.did)
    assert.equal(session.body.email, undefined, 'no email without the account:email permission')
    assert.equal(session.body.emailConfirmed, undefined)
    // The old access token's id is gone with the rotation.
    const old = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)
    assert.equal(old.status, 401)
    assert.equal(old.body.error, 'invalid_token')

    // Reusing the first refresh token revokes the whole session.
    const replay = await client.refresh(tokens.refresh_token)
    assert.equal(replay.status, 400)
    assert.equal(replay.body.error, 'invalid_grant')
    const after = await client.xrpc('GET', 'com.atproto.server.getSession', refreshed.body.access_token as string)
    assert.equal(after.status, 401)
    const again = await client.refresh(refreshed.body.refresh_token as string)
    assert.equal(again.body.error, 'invalid_grant')
  })

  it('revocation takes effect at once', async () => {
    const client = await newClient('atproto transition:generic')
    const tokens = await signIn(client, 'atproto transition:generic')
    assert.equal((await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)).status, 200)
    const revoked = await client.revoke(tokens.access_token)
    assert.equal(revoked.status, 200)
    const res = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_token')
    assert.equal((await client.refresh(tokens.refresh_token)).body.error, 'invalid_grant')
  })

  it('refuses a wrong PKCE verifier, a reused code (revoking its tokens) and another DPoP key', async () => {
    const scope = 'atproto transition:generic'
    const client = await newClient(scope)
    {
      const { res } = await client.par(scope)
      const code = codeFrom(await provider.acceptAuthorization(res.body.request_uri as string, alice.did, 'dev-test'))
      const bad = await client.exchange(code, 'x'.repeat(43))
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error, 'invalid_grant')
    }
    {
      const { res, verifier } = await client.par(scope)
      const code = codeFrom(await provider.acceptAuthorization(res.body.request_uri as string, alice.did, 'dev-test'))
      const other = new TestOAuthClient(pds.url, client.clientId, await makeDpopKey())
      const wrongKey = await other.exchange(code, verifier)
      assert.equal(wrongKey.body.error, 'invalid_grant')
    }
    const { res, verifier } = await client.par(scope)
    const code = codeFrom(await provider.acceptAuthorization(res.body.request_uri as string, alice.did, 'dev-test'))
    const first = await client.exchange(code, verifier)
    assert.equal(first.status, 200)
    const second = await client.exchange(code, verifier)
    assert.equal(second.status, 400)
    assert.equal(second.body.error, 'invalid_grant')
    const use = await client.xrpc('GET', 'com.atproto.server.getSession', first.body.access_token as string)
    assert.equal(use.status, 401, 'tokens issued from a replayed code are revoked')
  })

  it('validates the pushed request', async () => {
    const client = await newClient('atproto transition:generic')
    const badRedirect = await client.par('atproto', { redirect_uri: 'https://evil.example/cb' })
    assert.equal(badRedirect.res.status, 400)
    assert.equal(badRedirect.res.body.error, 'invalid_request')
    const undeclared = await client.par('atproto transition:email')
    assert.equal(undeclared.res.body.error, 'invalid_scope')
    const noAtproto = await client.par('transition:generic')
    assert.equal(noAtproto.res.body.error, 'invalid_scope')
    const plain = await client.par('atproto', { code_challenge_method: 'plain' })
    assert.equal(plain.res.body.error, 'invalid_request')
    const noPkce = await client.post('/oauth/par', { client_id: client.clientId, response_type: 'code', scope: 'atproto' })
    assert.equal(noPkce.body.error, 'invalid_request')
    const noClient = await client.post('/oauth/par', { response_type: 'code' })
    assert.equal(noClient.body.error, 'invalid_client')
  })
})

describe('DPoP', () => {
  it('requires a server nonce at the authorization server (400 use_dpop_nonce with DPoP-Nonce)', async () => {
    const client = await newClient('atproto')
    const res = await client.post('/oauth/par', { client_id: client.clientId }, { retry: false })
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'use_dpop_nonce')
    assert.ok(res.headers.get('dpop-nonce'))
    client.nonce = 'stale-nonce'
    const stale = await client.par('atproto')
    assert.equal(stale.res.status, 201, 'the retry with the fresh nonce succeeds')
    client.nonce = 'stale-nonce'
    const again = await client.post('/oauth/par', { client_id: client.clientId }, { retry: false })
    assert.equal(again.body.error, 'use_dpop_nonce')
  })

  it('accepts ES256K proofs (the official client library picks them first) end to end', async () => {
    const scope = 'atproto transition:generic'
    const client = new TestOAuthClient(pds.url, loopbackClientId(scope), makeK256DpopKey())
    const tokens = await signIn(client, scope)
    const session = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)
    assert.equal(session.status, 200, JSON.stringify(session.body))
    const tampered = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token, {
      proof: async (p) => {
        const jwt = await dpopProof(client.key, p)
        const [h, , sig] = jwt.split('.')
        const forged = Buffer.from(JSON.stringify({ htm: 'GET', htu: p.htu, nonce: p.nonce, ath: p.ath, jti: 'x', iat: Math.floor(Date.now() / 1000) })).toString('base64url')
        return `${h}.${forged}.${sig}`
      },
    })
    assert.equal(tampered.status, 401)
    assert.equal(tampered.body.error, 'invalid_dpop_proof')
  })

  it('refuses replayed, misdirected, unbound and nonce-less proofs on resource requests', async () => {
    const client = await newClient('atproto transition:generic')
    const tokens = await signIn(client, 'atproto transition:generic')
    const token = tokens.access_token
    // A fixed proof, used twice.
    const fixed = await dpopProof(client.key, { htm: 'GET', htu: `${pds.url}/xrpc/com.atproto.server.getSession`, nonce: client.nonce, ath: ath(token) })
    const once = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: async () => fixed, retry: false })
    assert.equal(once.status, 200, JSON.stringify(once.body))
    const twice = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: async () => fixed, retry: false })
    assert.equal(twice.status, 401)
    assert.equal(twice.body.error, 'invalid_dpop_proof')
    // Wrong method, wrong URL, missing ath, another key.
    const wrongHtm = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: (p) => dpopProof(client.key, { ...p, htm: 'POST' }) })
    assert.equal(wrongHtm.body.error, 'invalid_dpop_proof')
    const wrongHtu = await client.xrpc('GET', 'com.atproto.server.getSession', token, {
      proof: (p) => dpopProof(client.key, { ...p, htu: `${pds.url}/xrpc/com.atproto.server.describeServer` }),
    })
    assert.equal(wrongHtu.body.error, 'invalid_dpop_proof')
    assert.match(wrongHtu.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_dpop_proof"/)
    // A query in htu is ignored, as official.
    const withQuery = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: (p) => dpopProof(client.key, { ...p, htu: `${p.htu}?x=1` }) })
    assert.equal(withQuery.status, 200)
    const noAth = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: (p) => dpopProof(client.key, { ...p, ath: undefined }) })
    assert.equal(noAth.body.error, 'invalid_dpop_proof')
    const otherKey = await makeDpopKey()
    const stolen = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: (p) => dpopProof(otherKey, p) })
    assert.equal(stolen.status, 401)
    assert.equal(stolen.body.error, 'invalid_token')
    const oldIat = await client.xrpc('GET', 'com.atproto.server.getSession', token, {
      proof: (p) => dpopProof(client.key, { ...p, iat: Math.floor(Date.now() / 1000) - 600 }),
    })
    assert.equal(oldIat.body.error, 'invalid_dpop_proof')
    const badTyp = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: (p) => dpopProof(client.key, { ...p, typ: 'jwt' }) })
    assert.equal(badTyp.body.error, 'invalid_dpop_proof')
    // No nonce at the resource server: 401 with the DPoP challenge and a fresh nonce.
    const noNonce = await client.xrpc('GET', 'com.atproto.server.getSession', token, { proof: (p) => dpopProof(client.key, { ...p, nonce: undefined }), retry: false })
    assert.equal(noNonce.status, 401)
    assert.equal(noNonce.body.error, 'use_dpop_nonce')
    assert.match(noNonce.headers.get('www-authenticate') ?? '', /^DPoP error="use_dpop_nonce"/)
    assert.ok(noNonce.headers.get('dpop-nonce'))
    // A DPoP token sent as Bearer is not a session token.
    const bearer = await fetch(`${pds.url}/xrpc/com.atproto.server.getSession`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(bearer.status, 400)
  })
})

describe('permissions', () => {
  it('a granular repo scope allows exactly the granted writes', async () => {
    const scope = 'atproto repo:app.bsky.feed.post?action=create'
    const client = await newClient(scope)
    const tokens = await signIn(client, scope)
    const created = await client.xrpc('POST', 'com.atproto.repo.createRecord', tokens.access_token, {
      body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post('granular') },
    })
    assert.equal(created.status, 200, JSON.stringify(created.body))
    const rkey = (created.body.uri as string).split('/').pop() as string
    const del = await client.xrpc('POST', 'com.atproto.repo.deleteRecord', tokens.access_token, {
      body: { repo: alice.did, collection: 'app.bsky.feed.post', rkey },
    })
    assert.equal(del.status, 403)
    assert.equal(del.body.error, 'ScopeMissingError')
    assert.match(del.body.message as string, /repo:app\.bsky\.feed\.post\?action=delete/)
    const like = await client.xrpc('POST', 'com.atproto.repo.createRecord', tokens.access_token, {
      body: {
        repo: alice.did,
        collection: 'app.bsky.feed.like',
        record: { $type: 'app.bsky.feed.like', subject: { uri: created.body.uri, cid: created.body.cid }, createdAt: new Date().toISOString() },
      },
    })
    assert.equal(like.status, 403)
    const put = await client.xrpc('POST', 'com.atproto.repo.putRecord', tokens.access_token, {
      body: { repo: alice.did, collection: 'app.bsky.feed.post', rkey, record: post('edited') },
    })
    assert.equal(put.status, 403, 'put needs update too')
    const batch = await client.xrpc('POST', 'com.atproto.repo.applyWrites', tokens.access_token, {
      body: {
        repo: alice.did,
        writes: [
          { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post('a') },
          { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey },
        ],
      },
    })
    assert.equal(batch.status, 403)
    const blob = await client.xrpc('POST', 'com.atproto.repo.uploadBlob', tokens.access_token, { rawBody: new Uint8Array([1, 2, 3]), contentType: 'image/png' })
    assert.equal(blob.status, 403)
    // Methods the official keeps from OAuth sessions altogether.
    const appPw = await client.xrpc('POST', 'com.atproto.server.createAppPassword', tokens.access_token, { body: { name: 'x' } })
    assert.equal(appPw.status, 403)
    assert.equal(appPw.body.error, 'Forbidden')
  })

  it('blob scopes follow the MIME type; "atproto" alone cannot write; transition:generic can', async () => {
    const blobScope = 'atproto blob:image/*'
    const blobClient = await newClient(blobScope)
    const blobTokens = await signIn(blobClient, blobScope)
    const png = await blobClient.xrpc('POST', 'com.atproto.repo.uploadBlob', blobTokens.access_token, { rawBody: new Uint8Array([1, 2, 3]), contentType: 'image/png' })
    assert.equal(png.status, 200, JSON.stringify(png.body))
    const text = await blobClient.xrpc('POST', 'com.atproto.repo.uploadBlob', blobTokens.access_token, { rawBody: new Uint8Array([1, 2, 3]), contentType: 'text/plain' })
    assert.equal(text.status, 403)

    const bare = await newClient('atproto')
    const bareTokens = await signIn(bare, 'atproto')
    const write = await bare.xrpc('POST', 'com.atproto.repo.createRecord', bareTokens.access_token, {
      body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post('nope') },
    })
    assert.equal(write.status, 403)
    assert.equal(write.body.error, 'ScopeMissingError')

    const generic = await newClient('atproto transition:generic')
    const genericTokens = await signIn(generic, 'atproto transition:generic')
    const ok = await generic.xrpc('POST', 'com.atproto.repo.applyWrites', genericTokens.access_token, {
      body: { repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.like', value: { $type: 'app.bsky.feed.like', subject: { uri: 'at://did:plc:abc/app.bsky.feed.post/3k', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: new Date().toISOString() } }] },
    })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    const upload = await generic.xrpc('POST', 'com.atproto.repo.uploadBlob', genericTokens.access_token, { rawBody: new Uint8Array([1, 2, 3]), contentType: 'text/plain' })
    assert.equal(upload.status, 200)
  })
})

describe('bad input at the authorization server', () => {
  const requestId = (uri: string) => uri.slice('urn:ietf:params:oauth:request_uri:'.length)

  it('refuses an authorization request past its lifetime, on the page and at accept', async () => {
    const client = await newClient('atproto')
    const expire = (uri: string) => provider.store.updateRequest(requestId(uri), { expiresAt: new Date(Date.now() - 1000) })
    const a = (await client.par('atproto')).res.body.request_uri as string
    expire(a)
    await assert.rejects(provider.loadAuthorizationRequest(client.clientId, a), (e: { error?: string }) => e.error === 'access_denied')
    const b = (await client.par('atproto')).res.body.request_uri as string
    expire(b)
    await assert.rejects(provider.acceptAuthorization(b, alice.did, 'dev-test'), (e: { error?: string }) => e.error === 'access_denied')
    assert.equal(provider.store.readRequest(requestId(b)), null, 'the expired request is gone')
    const c = (await client.par('atproto')).res.body.request_uri as string
    expire(c)
    const page = await fetch(`${pds.url}/oauth/authorize?client_id=${encodeURIComponent(client.clientId)}&request_uri=${encodeURIComponent(c)}`)
    assert.equal(page.status, 400)
    assert.match(await page.text(), /expired/)
  })

  it('refuses a code redeemed by another client, or after its lifetime, or with another redirect_uri', async () => {
    const scope = 'atproto transition:generic'
    const owner = await newClient(scope)
    const thief = await newClient('atproto') // another loopback client id
    {
      const { res, verifier } = await owner.par(scope)
      const code = codeFrom(await provider.acceptAuthorization(res.body.request_uri as string, alice.did, 'dev-test'))
      const stolen = await thief.exchange(code, verifier)
      assert.equal(stolen.status, 400)
      assert.equal(stolen.body.error, 'invalid_grant')
      assert.match(stolen.body.error_description as string, /not issued to this client/)
    }
    {
      const { res, verifier } = await owner.par(scope)
      const uri = res.body.request_uri as string
      const code = codeFrom(await provider.acceptAuthorization(uri, alice.did, 'dev-test'))
      provider.store.updateRequest(requestId(uri), { expiresAt: new Date(Date.now() - 1000) })
      const late = await owner.exchange(code, verifier)
      assert.equal(late.body.error, 'invalid_grant')
      assert.match(late.body.error_description as string, /expired/)
    }
    {
      const { res, verifier } = await owner.par(scope)
      const code = codeFrom(await provider.acceptAuthorization(res.body.request_uri as string, alice.did, 'dev-test'))
      const moved = await owner.exchange(code, verifier, { redirect_uri: 'http://127.0.0.1/elsewhere' })
      assert.equal(moved.body.error, 'invalid_grant')
      assert.match(moved.body.error_description as string, /redirect_uri/)
    }
  })

  it('refuses a replayed proof and a wrong htm/htu at the authorization server', async () => {
    const client = await newClient('atproto')
    await client.par('atproto') // learns a nonce
    const url = `${pds.url}/oauth/par`
    const fixed = await dpopProof(client.key, { htm: 'POST', htu: url, nonce: client.nonce })
    const first = await client.post('/oauth/par', { client_id: client.clientId }, { proof: async () => fixed, retry: false })
    assert.equal(first.body.error, 'invalid_request', 'the proof passed; the body is what is wrong')
    const replay = await client.post('/oauth/par', { client_id: client.clientId }, { proof: async () => fixed, retry: false })
    assert.equal(replay.status, 401)
    assert.equal(replay.body.error, 'invalid_dpop_proof')
    assert.match(replay.body.error_description as string, /replayed/)
    const wrongHtu = await client.post('/oauth/token', { client_id: client.clientId, grant_type: 'refresh_token', refresh_token: 'ref-x' }, {
      proof: (p) => dpopProof(client.key, { ...p, htu: `${pds.url}/oauth/par` }),
    })
    assert.equal(wrongHtu.body.error, 'invalid_dpop_proof')
    const wrongHtm = await client.post('/oauth/token', { client_id: client.clientId, grant_type: 'refresh_token', refresh_token: 'ref-x' }, {
      proof: (p) => dpopProof(client.key, { ...p, htm: 'PUT' }),
    })
    assert.equal(wrongHtm.body.error, 'invalid_dpop_proof')
  })

  it('nonces go stale after their lifetime (3 minutes), as official', async () => {
    const { DpopVerifier } = await import('../../src/oauth/dpop.ts')
    let now = Date.now()
    const verifier = new DpopVerifier('ab'.repeat(32), () => now)
    const key = await makeDpopKey()
    const url = new URL('/oauth/par', pds.url)
    const nonce = verifier.nonces.next()
    const fresh = await verifier.check('POST', url, { dpop: await dpopProof(key, { htm: 'POST', htu: url.href, nonce }) })
    assert.ok(fresh?.jkt)
    now += 4 * 60_000
    await assert.rejects(
      verifier.check('POST', url, { dpop: await dpopProof(key, { htm: 'POST', htu: url.href, nonce }) }),
      (e: { error?: string }) => e.error === 'use_dpop_nonce',
    )
  })
})

describe('DPoP proof verification (node:crypto for EC keys)', () => {
  it('accepts ES256/ES384/ES512 proofs and refuses a tampered one, a key off the curve, a private key and crit', async () => {
    const { DpopVerifier } = await import('../../src/oauth/dpop.ts')
    const { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } = await import('jose')
    const verifier = new DpopVerifier(null)
    const url = new URL('/oauth/token', pds.url)
    const proof = async (alg: string, o: { jwkFrom?: string; header?: Record<string, unknown>; privateJwk?: boolean } = {}) => {
      const pair = await generateKeyPair(alg, { extractable: true })
      const jwk = o.privateJwk ? await exportJWK(pair.privateKey) : await exportJWK(o.jwkFrom ? (await generateKeyPair(o.jwkFrom, { extractable: true })).publicKey : pair.publicKey)
      const jwt = await new SignJWT({ htm: 'POST', htu: url.href, nonce: verifier.nonces.next() })
        .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...o.header })
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .sign(pair.privateKey)
      return { jwt, jwk }
    }
    const refused = async (jwt: string) =>
      assert.rejects(verifier.check('POST', url, { dpop: jwt }), (e: { error?: string }) => e.error === 'invalid_dpop_proof')
    for (const alg of ['ES256', 'ES384', 'ES512']) {
      const { jwt, jwk } = await proof(alg)
      const checked = await verifier.check('POST', url, { dpop: jwt })
      assert.equal(checked?.jkt, await calculateJwkThumbprint(jwk, 'sha256'), `${alg}: the thumbprint is jose's`)
    }
    const { jwt } = await proof('ES256')
    const [h, p, sig] = jwt.split('.')
    const body = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>
    await refused(`${h}.${Buffer.from(JSON.stringify({ ...body, htm: 'POST', jti: 'other' })).toString('base64url')}.${sig}`)
    await refused((await proof('ES256', { jwkFrom: 'ES384' })).jwt)
    await refused((await proof('ES256', { privateJwk: true })).jwt)
    await refused((await proof('ES256', { header: { crit: ['b64'], b64: true } })).jwt)
    const appTyp = await proof('ES256', { header: { typ: 'application/dpop+jwt' } })
    assert.ok(await verifier.check('POST', url, { dpop: appTyp.jwt }), 'typ compares as jose does')
    const rsa = await generateKeyPair('PS256', { extractable: true })
    const rsaProof = await new SignJWT({ htm: 'POST', htu: url.href, nonce: verifier.nonces.next() })
      .setProtectedHeader({ alg: 'PS256', typ: 'dpop+jwt', jwk: await exportJWK(rsa.publicKey) })
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .sign(rsa.privateKey)
    assert.ok(await verifier.check('POST', url, { dpop: rsaProof }), 'RSA proofs still go through jose')
  })
})

describe('authorization requests not pushed', () => {
  it('stores a query request for the device and shows it through its request_uri; refuses an invalid one or an unverifiable JAR', async () => {
    const scope = 'atproto transition:generic'
    const client = await newClient(scope)
    const query = new URLSearchParams({
      client_id: client.clientId,
      response_type: 'code',
      redirect_uri: client.redirectUri,
      scope,
      state: 'plain-state',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })
    const res = await fetch(`${pds.url}/oauth/authorize?${query}`, { redirect: 'manual' })
    assert.equal(res.status, 303)
    const location = new URL(res.headers.get('location') ?? '', pds.url)
    const requestUri = location.searchParams.get('request_uri') ?? ''
    assert.match(requestUri, /^urn:ietf:params:oauth:request_uri:req-/)
    const row = provider.store.readRequest(requestUri.slice('urn:ietf:params:oauth:request_uri:'.length))
    assert.ok(row?.deviceId?.startsWith('dev-'), 'bound to the browser that made it')
    assert.equal(row?.parameters.state, 'plain-state')
    assert.equal(row?.clientAuth, null)
    const badRedirect = new URLSearchParams(query)
    badRedirect.set('redirect_uri', 'https://evil.example/cb')
    const refused = await fetch(`${pds.url}/oauth/authorize?${badRedirect}`, { redirect: 'manual' })
    assert.equal(refused.status, 400)
    assert.match(await refused.text(), /invalid_request/)
    // A loopback client has no keys: its request objects cannot verify.
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...Object.fromEntries(query), jti: 'j1', iat: Math.floor(Date.now() / 1000) })).toString('base64url')}.`
    const jar = await fetch(`${pds.url}/oauth/authorize?${new URLSearchParams({ client_id: client.clientId, request: unsigned })}`, { redirect: 'manual' })
    assert.equal(jar.status, 400)
    assert.match(await jar.text(), /request&quot; object|request" object/)
  })
})

describe('revocation', () => {
  it('an access token dies at once when its refresh token is revoked', async () => {
    const client = await newClient('atproto transition:generic')
    const tokens = await signIn(client, 'atproto transition:generic')
    assert.equal((await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)).status, 200)
    assert.equal((await client.revoke(tokens.refresh_token)).status, 200)
    const res = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)
    assert.equal(res.status, 401)
    assert.equal(res.body.error, 'invalid_token')
  })

  it('the account page revokes one session, or a whole client, at once', async () => {
    const scope = 'atproto transition:generic'
    const client = await newClient(scope)
    const one = await signIn(client, scope)
    const two = await signIn(client, scope)
    // A browser signed in to the account page.
    const jar = new CookieJar()
    const page = async () => {
      const res = await fetch(`${pds.url}/account`, { headers: { cookie: jar.header() }, redirect: 'manual' })
      jar.store(res)
      return res.text()
    }
    const send = async (fields: Record<string, string>) => {
      const res = await fetch(`${pds.url}/account`, {
        method: 'POST',
        headers: { cookie: jar.header(), origin: pds.url, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: jar.csrf(), did: alice.did, ...fields }).toString(),
        redirect: 'manual',
      })
      jar.store(res)
      return res
    }
    await page()
    assert.equal((await send({ action: 'sign-in', identifier: alice.handle, password: 'pw-alice-secret' })).status, 303)
    const html = await page()
    const tokenOne = (await provider.verifyResourceRequest('GET', new URL(`${pds.url}/xrpc/com.atproto.server.getSession`), {
      authorization: `DPoP ${one.access_token}`,
      dpop: await dpopProof(client.key, { htm: 'GET', htu: `${pds.url}/xrpc/com.atproto.server.getSession`, nonce: provider.dpop.nonces.next(), ath: ath(one.access_token) }),
    })).tokenId
    assert.ok(html.includes(tokenOne), 'the session is listed with its id')
    assert.equal((await send({ action: 'revoke-session', token_id: tokenOne })).status, 303)
    const dead = await client.xrpc('GET', 'com.atproto.server.getSession', one.access_token)
    assert.equal(dead.status, 401)
    assert.equal(dead.body.error, 'invalid_token')
    assert.equal((await client.xrpc('GET', 'com.atproto.server.getSession', two.access_token)).status, 200, 'the other session lives on')
    assert.equal((await send({ action: 'revoke', client_id: client.clientId })).status, 303)
    const gone = await client.xrpc('GET', 'com.atproto.server.getSession', two.access_token)
    assert.equal(gone.status, 401)
    assert.equal((await client.refresh(two.refresh_token)).body.error, 'invalid_grant')
  })
})
