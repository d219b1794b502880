// What a client or operator sees change from the official 0.4.217 to the 0.5 line, each checked
// against the official source: describeServer.blobUploadLimit, createAccount's didDoc,
// HandleNotAvailable for a taken handle, CORS (RateLimit-* exposed where they are sent, a one-day preflight
// cache on the OAuth endpoints), deactivation by an OAuth app holding account:status (ending
// every OAuth session and app password), and permission sets published on this PDS read from
// the local repo.
import assert from 'node:assert/strict'
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { createLexiconFetcher, localLexiconReader } from '../../../src/oauth/lexicons.ts'
import type { OAuthProvider } from '../../../src/oauth/provider.ts'
import { setRateLimitHeaders } from '../../../src/xrpc/rate-limiter.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { codeFrom, loopbackClientId, makeDpopKey, TestOAuthClient } from '../../oauth/helpers.ts'
import { rejectsWith } from '../account-lifecycle/helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds({ env: { PDS_BLOB_UPLOAD_LIMIT: '1234567' } })
})
after(async () => {
  await pds?.close()
})

async function oauthSession(did: string, scope: string) {
  const client = new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
  const { res, verifier } = await client.par(scope)
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const provider = pds.hearth.services.oauth as OAuthProvider
  const redirect = await provider.acceptAuthorization(res.body.request_uri as string, did, 'dev-test')
  const token = await client.exchange(codeFrom(redirect), verifier)
  assert.equal(token.status, 200, JSON.stringify(token.body))
  return { client, tokens: token.body as { access_token: string; refresh_token: string } }
}

describe('server description and sign-up', () => {
  it('describeServer says how large a blob may be', async () => {
    const { data } = await pds.agent().com.atproto.server.describeServer()
    assert.equal(data.blobUploadLimit, 1234567)
  })

  it('createAccount returns the new DID document (as the official, without PDS_ENABLE_DID_DOC_WITH_SESSION)', async () => {
    const agent = new AtpAgent({ service: pds.url })
    const res = await agent.com.atproto.server.createAccount({ handle: 'doc0.test', email: 'doc0@example.com', password: 'pw-doc-secret' })
    const doc = res.data.didDoc as { id?: string; alsoKnownAs?: string[] } | undefined
    assert.equal(doc?.id, res.data.did)
    assert.deepEqual(doc?.alsoKnownAs, ['at://doc0.test'])
  })

  it('a handle held by another account is 400 HandleNotAvailable', async () => {
    const al = await pds.createAccount('hna')
    const bo = await pds.createAccount('hnb')
    await rejectsWith(al.agent.com.atproto.identity.updateHandle({ handle: bo.handle }), 400, 'HandleNotAvailable', `Handle already taken: ${bo.handle}`)
  })
})

describe('service auth', () => {
  it('getServiceAuth wants an atproto DID (did:plc / did:web) or did#serviceId, with the 0.5 message', async () => {
    const al = await pds.createAccount('svcaud')
    for (const aud of ['not-a-did', 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme', 'did:web:example.com#']) {
      await rejectsWith(al.agent.com.atproto.server.getServiceAuth({ aud }), 400, 'InvalidRequest', 'aud must be a valid atproto DID or did#serviceId reference')
    }
    for (const aud of ['did:web:example.com', 'did:web:localhost%3A2583', 'did:web:api.bsky.app#bsky_appview', al.did]) {
      assert.ok((await al.agent.com.atproto.server.getServiceAuth({ aud })).data.token, aud)
    }
  })
})

describe('moderation', () => {
  it('updateSubjectStatus refuses a takedown that also activates the account', async () => {
    const al = await pds.createAccount('modboth')
    const admin = pds.agent()
    admin.setHeader('authorization', `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`)
    await rejectsWith(
      admin.com.atproto.admin.updateSubjectStatus({
        subject: { $type: 'com.atproto.admin.defs#repoRef', did: al.did },
        takedown: { applied: true, ref: 'x' },
        deactivated: { applied: false },
      }),
      400,
      'InvalidRequest',
      'Cannot activate and takedown an account at the same time',
    )
    assert.equal(pds.hearth.services.accounts.getAccountStatus(al.did), 'active')
  })
})

describe('CORS', () => {
  it('rate-limited XRPC responses let browsers read the RateLimit-* headers, and Retry-After on a 429', async () => {
    const limited = await startTestPds({ env: { PDS_RATE_LIMITS_ENABLED: 'true' } })
    try {
      const res = await fetch(`${limited.url}/xrpc/com.atproto.server.describeServer`, { headers: { origin: 'https://app.example' } })
      assert.equal(res.status, 200)
      assert.ok(res.headers.get('ratelimit-limit'))
      const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(',').map((v) => v.trim().toLowerCase())
      for (const h of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy']) assert.ok(exposed.includes(h), `${h} in ${exposed}`)
      assert.ok(!exposed.includes('retry-after'))
    } finally {
      await limited.close()
    }
    // A refusal: the same, plus Retry-After (seconds), also exposed.
    const res = new ServerResponse(new IncomingMessage(new Socket()))
    setRateLimitHeaders(res, { limit: 10, windowSeconds: 300, remaining: 0, msBeforeNext: 12_300, exceeded: true }, 1_000_000)
    assert.equal(res.getHeader('Retry-After'), 13)
    assert.match(String(res.getHeader('Access-Control-Expose-Headers')), /RateLimit-Policy, Retry-After$/)
  })

  it('an OAuth-authenticated XRPC response exposes DPoP-Nonce and WWW-Authenticate', async () => {
    const al = await pds.createAccount('corsoauth')
    const { client, tokens } = await oauthSession(al.did, 'atproto transition:generic')
    const res = await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-expose-headers'), 'DPoP-Nonce, WWW-Authenticate')
  })

  it('the OAuth endpoints let browsers cache their preflight for a day, as the official provider', async () => {
    for (const path of ['/oauth/par', '/oauth/token', '/.well-known/oauth-authorization-server']) {
      const pre = await fetch(`${pds.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } })
      assert.equal(pre.headers.get('access-control-max-age'), '86400', path)
    }
    const meta = await fetch(`${pds.url}/.well-known/oauth-authorization-server`)
    assert.equal(meta.headers.get('access-control-max-age'), '86400')
  })
})

describe('deactivation through OAuth (account:status?action=manage)', () => {
  it('is refused without the permission', async () => {
    const al = await pds.createAccount('deano')
    const { client, tokens } = await oauthSession(al.did, 'atproto transition:generic')
    const res = await client.xrpc('POST', 'com.atproto.server.deactivateAccount', tokens.access_token, { body: {} })
    assert.equal(res.status, 403, JSON.stringify(res.body))
    assert.equal(pds.hearth.services.accounts.getAccountStatus(al.did), 'active')
  })

  it('deactivates, and ends every OAuth session and app password; password sessions stay', async () => {
    const al = await pds.createAccount('dea')
    const app = await al.agent.com.atproto.server.createAppPassword({ name: 'bot' })
    const appAgent = new AtpAgent({ service: pds.url })
    await appAgent.login({ identifier: al.handle, password: app.data.password })
    const other = await oauthSession(al.did, 'atproto transition:generic')
    const { client, tokens } = await oauthSession(al.did, 'atproto account:status?action=manage')

    const res = await client.xrpc('POST', 'com.atproto.server.deactivateAccount', tokens.access_token, { body: {} })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(pds.hearth.services.accounts.getAccountStatus(al.did), 'deactivated')

    // Every OAuth session, the acting one included, is over.
    assert.equal((await other.client.xrpc('GET', 'com.atproto.server.getSession', other.tokens.access_token)).status, 401)
    assert.equal((await client.xrpc('GET', 'com.atproto.server.getSession', tokens.access_token)).status, 401)
    assert.equal((await other.client.refresh(other.tokens.refresh_token)).body.error, 'invalid_grant')
    // The app password is gone, and so is its session.
    assert.deepEqual((await al.agent.com.atproto.server.listAppPasswords()).data.passwords, [])
    await rejectsWith(appAgent.com.atproto.server.getSession(), 400, 'ExpiredToken')
    await rejectsWith(new AtpAgent({ service: pds.url }).login({ identifier: al.handle, password: app.data.password }), 401, 'AuthenticationRequired')
    // The account password's session is not a delegated credential.
    assert.equal((await al.agent.com.atproto.server.getSession()).data.status, 'deactivated')
  })
})

describe('permission sets published on this PDS', () => {
  it('are read from the local repo, without fetching the DID document or the PDS over HTTP', async () => {
    const al = await pds.createAccount('lex')
    const nsid = 'test.hearth.lex.authBasic'
    const lexicon = {
      $type: 'com.atproto.lexicon.schema',
      lexicon: 1,
      id: nsid,
      defs: { main: { type: 'permission-set', title: 'Basic', permissions: [{ type: 'permission', resource: 'repo', collection: ['test.hearth.lex.note'] }] } },
    }
    await al.agent.com.atproto.repo.putRecord({ repo: al.did, collection: 'com.atproto.lexicon.schema', rkey: nsid, record: lexicon, validate: false })
    let didLookups = 0
    const fetcher = createLexiconFetcher({
      resolveTxt: async (name) => (name === '_lexicon.lex.hearth.test' ? [[`did=${al.did}`]] : []),
      resolveDid: async () => {
        didLookups++
        return null
      },
      readLocal: localLexiconReader(pds.hearth.services),
    })
    const found = await fetcher(nsid)
    assert.equal(found?.uri, `at://${al.did}/com.atproto.lexicon.schema/${nsid}`)
    assert.deepEqual(found?.lexicon, lexicon)
    assert.equal(didLookups, 0)
    // A hosted account without the record: nothing, and still no remote lookup.
    assert.equal(await fetcher('test.hearth.lex.authOther'), null)
    assert.equal(didLookups, 0)
  })
})
