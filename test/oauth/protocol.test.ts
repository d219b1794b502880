// The OAuth protocol endpoints driven by hand (PAR → code → token → refresh → revoke) with
// jose-made DPoP proofs, against a real Hearth; the consent step is the provider's
// acceptAuthorization (the pages are tested elsewhere). Then the resource server: DPoP-bound
// tokens on XRPC writes, replay and binding checks, and the scope permission matrix.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { OAuthProvider } from '../../src/oauth/provider.ts'
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
