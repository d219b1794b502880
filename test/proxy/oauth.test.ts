// OAuth sessions through the proxy: real DPoP-bound tokens (PAR → consent → code exchange, as
// test/oauth/protocol.test.ts) on proxied calls, and the official permission matrix: an `rpc:`
// scope reaches its method at its audience only; transition:generic reaches the AppView but not
// chat; transition:chat.bsky reaches chat; a token without either is refused with 403
// ScopeMissingError before anything is forwarded.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RpcPermission } from '@atproto/oauth-scopes'
import type { OAuthProvider } from '../../src/oauth/provider.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { ath, codeFrom, dpopProof, loopbackClientId, makeDpopKey, TestOAuthClient } from '../oauth/helpers.ts'
import { startTestService, type TestService } from './services.ts'

const OTHER_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
// The AppView is only reached as the configured one: a DID an rpc scope can name.
const APPVIEW_DID = 'did:web:appview.proxy.test'
const APPVIEW_AUD = `${APPVIEW_DID}#bsky_appview`

interface Session {
  client: TestOAuthClient
  token: string
}

interface Answer {
  status: number
  body: Record<string, unknown>
}

describe('OAuth permissions on proxied calls', () => {
  let appView: TestService
  let chat: TestService
  let pds: TestPds
  let provider: OAuthProvider
  let did: string

  before(async () => {
    appView = await startTestService({ did: APPVIEW_DID, services: [{ id: 'bsky_appview', type: 'BskyAppView' }] })
    chat = await startTestService({ services: [{ id: 'bsky_chat', type: 'BskyChatService' }] })
    appView.setHandler((call, q) => {
      if (call.nsid === 'app.bsky.feed.getTimeline') return { body: { feed: [] } }
      if (call.nsid === 'app.bsky.actor.getProfile') return { body: { did: q.get('actor'), handle: 'other.test' } }
      if (call.nsid === 'app.bsky.graph.getFollows') return { body: { subject: { did: OTHER_DID, handle: 'other.test' }, follows: [] } }
      return undefined
    })
    chat.setHandler((call) => (call.nsid === 'chat.bsky.convo.listConvos' ? { body: { convos: [] } } : undefined))
    pds = await startTestPds({ env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: APPVIEW_DID } })
    for (const svc of [appView, chat]) svc.setPlcUrl(pds.plcUrl)
    provider = pds.hearth.services.oauth as OAuthProvider
    did = (await pds.createAccount('olive')).did
  })
  after(async () => {
    await pds?.close()
    await Promise.all([appView?.close(), chat?.close()])
  })

  async function signIn(scope: string): Promise<Session> {
    const client = new TestOAuthClient(pds.url, loopbackClientId(scope), await makeDpopKey())
    const { res, verifier } = await client.par(scope)
    assert.equal(res.status, 201, JSON.stringify(res.body))
    const redirect = await provider.acceptAuthorization(res.body.request_uri as string, did, 'dev-test')
    const token = await client.exchange(codeFrom(redirect), verifier)
    assert.equal(token.status, 200, JSON.stringify(token.body))
    assert.equal(token.body.scope, scope)
    return { client, token: token.body.access_token as string }
  }

  /** An XRPC call with the session's DPoP token and any extra headers (atproto-proxy). */
  async function call(session: Session, nsid: string, o: { query?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
    const { client, token } = session
    const method = o.body === undefined ? 'GET' : 'POST'
    const htu = `${pds.url}/xrpc/${nsid}`
    const send = async (): Promise<Answer & { nonce: string | null }> => {
      const proof = await dpopProof(client.key, { htm: method, htu, nonce: client.nonce, ath: ath(token) })
      const headers: Record<string, string> = { authorization: `DPoP ${token}`, dpop: proof, ...o.headers }
      if (o.body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(`${htu}${o.query ? `?${o.query}` : ''}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) })
      const text = await res.text()
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, nonce: res.headers.get('dpop-nonce') }
    }
    let res = await send()
    if (res.nonce) client.nonce = res.nonce
    if (res.status === 401 && res.body.error === 'use_dpop_nonce') {
      res = await send()
      if (res.nonce) client.nonce = res.nonce
    }
    return { status: res.status, body: res.body }
  }

  /** 403 ScopeMissingError naming the rpc scope the official would ask for. */
  function assertScopeMissing(res: Answer, lxm: string, aud: string): void {
    assert.equal(res.status, 403, JSON.stringify(res.body))
    assert.deepEqual(res.body, { error: 'ScopeMissingError', message: `Missing required scope "${RpcPermission.scopeNeededFor({ lxm, aud: aud as `did:${string}#${string}` })}"` })
  }

  const viaChat = () => ({ 'atproto-proxy': `${chat.did}#bsky_chat` })
  const counts = () => [appView.calls.length, chat.calls.length]

  it('rpc:<method>?aud=<appview>: that method at that audience, nothing else', async () => {
    const session = await signIn(`atproto rpc:app.bsky.feed.getTimeline?aud=${APPVIEW_AUD}`)
    const timeline = await call(session, 'app.bsky.feed.getTimeline')
    assert.equal(timeline.status, 200, JSON.stringify(timeline.body))
    const got = appView.calls.at(-1)
    assert.deepEqual(got?.jwt && [got.jwt.iss, got.jwt.aud, got.jwt.lxm], [did, APPVIEW_DID, 'app.bsky.feed.getTimeline'])
    // Naming the AppView explicitly is the same audience.
    assert.equal((await call(session, 'app.bsky.feed.getTimeline', { headers: { 'atproto-proxy': APPVIEW_AUD } })).status, 200)

    const before = counts()
    assertScopeMissing(await call(session, 'app.bsky.actor.getProfile', { query: `actor=${OTHER_DID}` }), 'app.bsky.actor.getProfile', APPVIEW_AUD)
    assertScopeMissing(await call(session, 'app.bsky.graph.getFollows', { query: `actor=${OTHER_DID}` }), 'app.bsky.graph.getFollows', APPVIEW_AUD)
    // The same method at another audience.
    assertScopeMissing(await call(session, 'app.bsky.feed.getTimeline', { headers: viaChat() }), 'app.bsky.feed.getTimeline', `${chat.did}#bsky_chat`)
    // Preferences (served here) need their own rpc scope too, as official.
    assertScopeMissing(await call(session, 'app.bsky.actor.getPreferences'), 'app.bsky.actor.getPreferences', APPVIEW_AUD)
    assert.deepEqual(counts(), before, 'nothing was forwarded')
  })

  it('transition:generic reaches the AppView, not chat', async () => {
    const session = await signIn('atproto transition:generic')
    assert.equal((await call(session, 'app.bsky.feed.getTimeline')).status, 200)
    const follows = await call(session, 'app.bsky.graph.getFollows', { query: `actor=${OTHER_DID}` })
    assert.equal(follows.status, 200, JSON.stringify(follows.body))
    assert.equal(appView.calls.at(-1)?.jwt?.lxm, 'app.bsky.graph.getFollows')
    const prefs = await call(session, 'app.bsky.actor.getPreferences')
    assert.equal(prefs.status, 200, JSON.stringify(prefs.body))
    const before = counts()
    assertScopeMissing(await call(session, 'chat.bsky.convo.listConvos', { headers: viaChat() }), 'chat.bsky.convo.listConvos', `${chat.did}#bsky_chat`)
    assert.deepEqual(counts(), before)
  })

  it('transition:chat.bsky reaches chat (no app-password privilege check for OAuth), not the AppView', async () => {
    const session = await signIn('atproto transition:chat.bsky')
    const convos = await call(session, 'chat.bsky.convo.listConvos', { headers: viaChat() })
    assert.equal(convos.status, 200, JSON.stringify(convos.body))
    const got = chat.calls.at(-1)
    assert.deepEqual(got?.jwt && [got.jwt.iss, got.jwt.aud, got.jwt.lxm], [did, chat.did, 'chat.bsky.convo.listConvos'])
    const before = counts()
    assertScopeMissing(await call(session, 'app.bsky.feed.getTimeline'), 'app.bsky.feed.getTimeline', APPVIEW_AUD)
    assert.deepEqual(counts(), before)
  })

  it('a token without rpc scopes is refused before anything is forwarded', async () => {
    const session = await signIn('atproto repo:app.bsky.feed.post')
    const before = counts()
    assertScopeMissing(await call(session, 'app.bsky.feed.getTimeline'), 'app.bsky.feed.getTimeline', APPVIEW_AUD)
    assertScopeMissing(await call(session, 'app.bsky.graph.getFollows', { query: `actor=${OTHER_DID}` }), 'app.bsky.graph.getFollows', APPVIEW_AUD)
    assertScopeMissing(await call(session, 'chat.bsky.convo.listConvos', { headers: viaChat() }), 'chat.bsky.convo.listConvos', `${chat.did}#bsky_chat`)
    assertScopeMissing(await call(session, 'app.bsky.actor.getPreferences'), 'app.bsky.actor.getPreferences', APPVIEW_AUD)
    assertScopeMissing(await call(session, 'app.bsky.actor.putPreferences', { body: { preferences: [] } }), 'app.bsky.actor.putPreferences', APPVIEW_AUD)
    assert.deepEqual(counts(), before, 'neither the AppView nor chat saw a request')
    // The token itself is good: a method its scopes do cover works.
    const created = await call(session, 'com.atproto.repo.createRecord', {
      body: { repo: did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'hi', createdAt: new Date().toISOString() } },
    })
    assert.equal(created.status, 200, JSON.stringify(created.body))
  })
})
