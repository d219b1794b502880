// Service proxying end to end: Hearth in front of a test AppView, chat and moderation service
// that verify every service-auth JWT they receive (test/proxy/services.ts), driven through
// @atproto/api.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { createServiceJwt } from '../../src/auth/jwt.ts'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { type CannedHandler, type ReceivedCall, startTestService, type TestService } from './services.ts'

const OTHER_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const SOME_CID = 'bafyreihltcnuuyqp2jm24aqydpnlj7b6w3ogwrplomrjtg5rifv44mmjey'
const OLD = '2020-01-01T00:00:00.000Z'
const FEEDGEN_DID = 'did:web:feedgen.example.com'

const otherPost = {
  uri: `at://${OTHER_DID}/app.bsky.feed.post/3kabcabcabc22`,
  cid: SOME_CID,
  author: { did: OTHER_DID, handle: 'other.test' },
  record: { $type: 'app.bsky.feed.post', text: 'from someone else', createdAt: OLD },
  indexedAt: OLD,
}

/** Rejects with an XRPC error of this status and name. */
async function rejectsWith(promise: Promise<unknown>, status: number, error: string): Promise<{ message: string }> {
  try {
    await promise
  } catch (err) {
    const e = err as { status?: number; error?: string; message: string }
    assert.equal(e.status, status, `${e.error}: ${e.message}`)
    assert.equal(e.error, error, e.message)
    return e
  }
  assert.fail('expected an error')
}

const last = (svc: TestService): ReceivedCall => {
  const call = svc.calls.at(-1)
  assert.ok(call, 'the service was called')
  return call
}

describe('service proxying', () => {
  let appView: TestService
  let chat: TestService
  let mod: TestService
  let pds: TestPds
  // What the AppView claims to have indexed of the account's repo.
  let indexedRev: string | undefined
  let knownThread: Record<string, unknown> | undefined
  let authorFeed: unknown[] = []
  let hangTimeline = false
  // One account for the tests that need nothing of their own (creating one costs a scrypt).
  let shared: ReturnType<TestPds['createAccount']> | undefined
  const sharedAccount = () => (shared ??= pds.createAccount('sam'))

  before(async () => {
    appView = await startTestService({
      services: [
        { id: 'bsky_appview', type: 'BskyAppView' },
        // An endpoint nothing listens on (the port of a closed server, filled below).
        { id: 'dead_service', type: 'BskyAppView', endpoint: 'http://127.0.0.1:1' },
      ],
      publicMethods: ['com.atproto.repo.getRecord', 'com.atproto.identity.resolveHandle'],
      expectToken: (nsid) => (nsid === 'app.bsky.feed.getFeed' ? { aud: FEEDGEN_DID, lxm: 'app.bsky.feed.getFeedSkeleton' } : undefined),
    })
    chat = await startTestService({ services: [{ id: 'bsky_chat', type: 'BskyChatService' }] })
    mod = await startTestService({ services: [{ id: 'atproto_labeler', type: 'AtprotoLabeler' }] })
    pds = await startTestPds({
      env: {
        PDS_BSKY_APP_VIEW_URL: appView.url,
        PDS_BSKY_APP_VIEW_DID: appView.did,
        PDS_MOD_SERVICE_URL: mod.url,
        PDS_MOD_SERVICE_DID: mod.did,
      },
    })
    for (const svc of [appView, chat, mod]) svc.setPlcUrl(pds.plcUrl)
    const revHeaders = (): Record<string, string> => (indexedRev ? { 'atproto-repo-rev': indexedRev } : {})
    appView.setHandler((call, q): ReturnType<CannedHandler> => {
      switch (call.nsid) {
        case 'app.bsky.feed.getTimeline':
          if (hangTimeline) return { hang: true }
          return { body: { feed: [{ post: otherPost }], cursor: 'c1' }, headers: { ...revHeaders(), 'content-language': 'en', 'x-not-forwarded': '1' } }
        case 'app.bsky.actor.getProfile':
          return { body: { did: q.get('actor'), handle: 'someone.test', displayName: 'Old Name' }, headers: revHeaders() }
        case 'app.bsky.feed.getPostThread':
          if (knownThread && (knownThread.post as { uri: string }).uri === q.get('uri')) return { body: { thread: knownThread }, headers: revHeaders() }
          return { status: 400, body: { error: 'NotFound', message: `Post not found: ${q.get('uri')}` }, headers: revHeaders() }
        case 'app.bsky.graph.getFollows':
          return { body: { subject: { did: OTHER_DID, handle: 'other.test' }, follows: [] }, headers: { 'atproto-content-labelers': 'did:plc:labeler' } }
        case 'com.atproto.repo.getRecord':
          return { body: { uri: `at://${OTHER_DID}/app.bsky.feed.generator/hot`, value: { $type: 'app.bsky.feed.generator', did: FEEDGEN_DID, displayName: 'Hot', createdAt: OLD } } }
        case 'app.bsky.feed.getFeed':
          return { body: { feed: [{ post: otherPost }] } }
        case 'app.bsky.feed.getAuthorFeed':
          return { body: { feed: q.get('actor') === OTHER_DID ? [{ post: otherPost }] : authorFeed }, headers: revHeaders() }
        case 'app.bsky.notification.registerPush':
          return { body: {} }
        case 'app.bsky.unspecced.hang':
          return { hang: true }
        case 'com.atproto.identity.resolveHandle':
          if (q.get('handle') === 'someone.example.com') return { body: { did: OTHER_DID } }
          if (q.get('handle') === 'bad-answer.example.com') return { body: { did: 'not a did' } }
          return { status: 400, body: { error: 'InvalidRequest', message: 'Unable to resolve handle' } }
        case 'app.bsky.unspecced.broken':
          return { status: 500, body: { error: 'InternalServerError', message: 'appview broke' } }
        default:
          return undefined
      }
    })
    chat.setHandler((call) => {
      if (call.nsid === 'chat.bsky.convo.listConvos') return { body: { convos: [] } }
      if (call.nsid === 'app.bsky.actor.getPreferences') return { body: { preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }] } }
      if (call.nsid === 'chat.bsky.convo.sendMessage') {
        const input = JSON.parse(call.body) as { convoId: string; message: { text: string } }
        return { body: { id: 'm1', rev: '1', text: input.message.text, sender: { did: call.jwt?.iss ?? '' }, sentAt: new Date().toISOString() } }
      }
      return undefined
    })
    mod.setHandler((call) => {
      if (call.nsid !== 'com.atproto.moderation.createReport') return undefined
      const input = JSON.parse(call.body) as Record<string, unknown>
      return { body: { id: 7, reasonType: input.reasonType, subject: input.subject, reportedBy: call.jwt?.iss, createdAt: new Date().toISOString() } }
    })
  })

  after(async () => {
    await pds?.close()
    await Promise.all([appView?.close(), chat?.close(), mod?.close()])
  })

  it('getTimeline reaches the AppView with a valid service token and only the official headers', async () => {
    const alice = await pds.createAccount('alice')
    const res = await alice.agent.app.bsky.feed.getTimeline({ limit: 10 }, { headers: { 'accept-language': 'fr', 'x-secret-header': 'nope' } })
    assert.equal(res.data.feed.length, 1)
    assert.equal(res.data.feed[0].post.uri, otherPost.uri)
    assert.equal(res.headers['content-language'], 'en')
    assert.equal(res.headers['x-not-forwarded'], undefined)
    const call = last(appView)
    assert.equal(call.nsid, 'app.bsky.feed.getTimeline')
    assert.deepEqual(call.jwt && { iss: call.jwt.iss, aud: call.jwt.aud, lxm: call.jwt.lxm }, { iss: alice.did, aud: appView.did, lxm: 'app.bsky.feed.getTimeline' })
    const now = Date.now() / 1000
    assert.ok(call.jwt && call.jwt.exp > now && call.jwt.exp <= now + 61, 'a short expiry')
    assert.equal(call.headers['accept-language'], 'fr')
    assert.equal(call.headers['x-secret-header'], undefined)
    assert.ok(call.headers['atproto-accept-labelers'], 'the client labelers header is forwarded')
    assert.match(call.url, /limit=10/)
  })

  it('proxies methods Hearth does not implement (fallback), passing headers and errors as official', async () => {
    const bob = await pds.createAccount('bob')
    const res = await bob.agent.app.bsky.graph.getFollows({ actor: OTHER_DID })
    assert.equal(res.data.subject.did, OTHER_DID)
    assert.equal(res.headers['atproto-content-labelers'], 'did:plc:labeler')
    assert.equal(res.headers['cache-control'], 'private')
    assert.equal(last(appView).jwt?.lxm, 'app.bsky.graph.getFollows')
    // An upstream 500 is a 502 UpstreamFailure carrying the upstream's error name and message.
    const r = await fetch(`${pds.url}/xrpc/app.bsky.unspecced.broken`, { headers: { authorization: `Bearer ${bob.agent.session?.accessJwt}` } })
    assert.equal(r.status, 502)
    assert.deepEqual(await r.json(), { error: 'InternalServerError', message: 'appview broke' })
    // No credentials: refused here, nothing forwarded.
    const before = appView.calls.length
    const anon = await fetch(`${pds.url}/xrpc/app.bsky.graph.getFollows?actor=${OTHER_DID}`)
    assert.equal(anon.status, 401)
    assert.equal(appView.calls.length, before)
  })

  it('read-after-write: a just-written post, reply and profile show up before the AppView indexed them', async () => {
    const carol = await pds.createAccount('carol')
    const agent = carol.agent
    const old = await agent.post({ text: 'indexed already' })
    indexedRev = (await agent.com.atproto.sync.getLatestCommit({ did: carol.did })).data.rev
    knownThread = {
      $type: 'app.bsky.feed.defs#threadViewPost',
      post: {
        uri: old.uri,
        cid: old.cid,
        author: { did: carol.did, handle: carol.handle },
        record: { $type: 'app.bsky.feed.post', text: 'indexed already', createdAt: OLD },
        indexedAt: OLD,
      },
      replies: [],
    }
    try {
      const fresh = await agent.post({ text: 'not indexed yet' })
      const reply = await agent.post({ text: 'a reply', reply: { root: { uri: old.uri, cid: old.cid }, parent: { uri: old.uri, cid: old.cid } } })
      await agent.com.atproto.repo.putRecord({
        repo: carol.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'self',
        record: { $type: 'app.bsky.actor.profile', displayName: 'New Name' },
      })

      const timeline = await agent.app.bsky.feed.getTimeline({})
      const uris = timeline.data.feed.map((item) => item.post.uri)
      assert.deepEqual(uris, [reply.uri, fresh.uri, otherPost.uri], 'local posts first, newest first; the indexed one not duplicated')
      assert.equal(timeline.data.feed[1].post.author.displayName, 'New Name')
      assert.equal(timeline.data.cursor, 'c1')
      assert.ok(Number(timeline.headers['atproto-upstream-lag']) >= 0)

      const profile = await agent.app.bsky.actor.getProfile({ actor: carol.did })
      assert.equal(profile.data.displayName, 'New Name')
      const someoneElse = await agent.app.bsky.actor.getProfile({ actor: OTHER_DID })
      assert.equal(someoneElse.data.displayName, 'Old Name')

      const thread = await agent.app.bsky.feed.getPostThread({ uri: old.uri })
      const replies = (thread.data.thread as { replies?: Array<{ post: { uri: string } }> }).replies ?? []
      assert.deepEqual(replies.map((r) => r.post.uri), [reply.uri])

      // The AppView does not know the reply at all: built from the local record, parent from the AppView.
      const own = await agent.app.bsky.feed.getPostThread({ uri: reply.uri })
      const ownThread = own.data.thread as unknown as { post: { uri: string; record: { text: string } }; parent?: { post: { uri: string } } }
      assert.equal(ownThread.post.uri, reply.uri)
      assert.equal(ownThread.post.record.text, 'a reply')
      assert.equal(ownThread.parent?.post.uri, old.uri)
      // Someone else's unknown post stays NotFound.
      await rejectsWith(agent.app.bsky.feed.getPostThread({ uri: otherPost.uri.replace('3kabc', '3kxyz') }), 400, 'NotFound')
      // Every call the AppView got carried a verified token.
      assert.ok(appView.calls.every((c) => c.jwt !== null || c.refused === undefined))
      assert.ok(appView.calls.filter((c) => c.refused).length === 0, 'no token was refused')
    } finally {
      indexedRev = undefined
    }
  })

  it('getFeed asks the AppView with a token for the feed generator; registerPush reaches the AppView', async () => {
    const kim = await pds.createAccount('kim')
    const feed = await kim.agent.app.bsky.feed.getFeed({ feed: `at://${OTHER_DID}/app.bsky.feed.generator/hot` })
    assert.equal(feed.data.feed[0].post.uri, otherPost.uri)
    const call = last(appView)
    assert.equal(call.nsid, 'app.bsky.feed.getFeed')
    assert.deepEqual(call.jwt && [call.jwt.iss, call.jwt.aud, call.jwt.lxm], [kim.did, FEEDGEN_DID, 'app.bsky.feed.getFeedSkeleton'])
    await kim.agent.app.bsky.notification.registerPush({ serviceDid: appView.did, token: 'device-token', platform: 'web', appId: 'xyz.blueskyweb.app' })
    const push = last(appView)
    assert.equal(push.nsid, 'app.bsky.notification.registerPush')
    assert.equal(push.jwt?.lxm, 'app.bsky.notification.registerPush')
    assert.equal(JSON.parse(push.body).token, 'device-token')
  })

  it('getAuthorFeed: the requester\'s new post is added to its own feed, not to others\'', async () => {
    const lee = await pds.createAccount('lee')
    const first = await lee.agent.post({ text: 'first' })
    indexedRev = (await lee.agent.com.atproto.sync.getLatestCommit({ did: lee.did })).data.rev
    try {
      const second = await lee.agent.post({ text: 'second' })
      // Official rule: an empty upstream feed is not known to be the requester's: left as is.
      assert.deepEqual((await lee.agent.app.bsky.feed.getAuthorFeed({ actor: lee.did })).data.feed, [])
      authorFeed = [
        { post: { uri: first.uri, cid: first.cid, author: { did: lee.did, handle: lee.handle }, record: { $type: 'app.bsky.feed.post', text: 'first', createdAt: OLD }, indexedAt: OLD } },
      ]
      const own = await lee.agent.app.bsky.feed.getAuthorFeed({ actor: lee.did })
      assert.deepEqual(own.data.feed.map((item) => item.post.uri), [second.uri, first.uri])
      const other = await lee.agent.app.bsky.feed.getAuthorFeed({ actor: OTHER_DID })
      assert.deepEqual(other.data.feed.map((item) => item.post.uri), [otherPost.uri])
    } finally {
      indexedRev = undefined
      authorFeed = []
    }
  })

  it('chat: via atproto-proxy, with a password session or a privileged app password only', async () => {
    const dan = await pds.createAccount('dan')
    const viaChat = { headers: { 'atproto-proxy': `${chat.did}#bsky_chat` } }
    const list = await dan.agent.api.chat.bsky.convo.listConvos({}, viaChat)
    assert.deepEqual(list.data.convos, [])
    assert.deepEqual(last(chat).jwt && { iss: last(chat).jwt?.iss, aud: last(chat).jwt?.aud, lxm: last(chat).jwt?.lxm }, {
      iss: dan.did,
      aud: chat.did,
      lxm: 'chat.bsky.convo.listConvos',
    })
    const sent = await dan.agent.api.chat.bsky.convo.sendMessage({ convoId: 'c1', message: { text: 'hello' } }, viaChat)
    assert.equal(sent.data.text, 'hello')
    assert.equal(last(chat).method, 'POST')

    const plain = await dan.agent.com.atproto.server.createAppPassword({ name: 'plain' })
    const privileged = await dan.agent.com.atproto.server.createAppPassword({ name: 'priv', privileged: true })
    const login = async (password: string) => {
      const agent = new AtpAgent({ service: pds.url })
      await agent.login({ identifier: dan.handle, password })
      return agent
    }
    const before = chat.calls.length
    await rejectsWith((await login(plain.data.password)).api.chat.bsky.convo.listConvos({}, viaChat), 400, 'InvalidToken')
    assert.equal(chat.calls.length, before, 'nothing forwarded for a plain app password')
    const ok = await (await login(privileged.data.password)).api.chat.bsky.convo.listConvos({}, viaChat)
    assert.deepEqual(ok.data.convos, [])
    // Account management is never proxied (methods compared case-insensitively, as official).
    const protectedCall = await fetch(`${pds.url}/xrpc/com.atproto.server.GetSession`, {
      headers: { ...viaChat.headers, authorization: `Bearer ${dan.agent.session?.accessJwt}` },
    })
    assert.equal(protectedCall.status, 400)
    assert.deepEqual(await protectedCall.json(), { error: 'InvalidToken', message: 'Bad token method' })
    assert.equal(chat.calls.length, before + 1)
  })

  it('createReport goes to the moderation service', async () => {
    const erin = await pds.createAccount('erin')
    const res = await erin.agent.com.atproto.moderation.createReport({
      reasonType: 'com.atproto.moderation.defs#reasonSpam',
      subject: { $type: 'com.atproto.admin.defs#repoRef', did: OTHER_DID },
    })
    assert.equal(res.data.id, 7)
    assert.equal(res.data.reportedBy, erin.did)
    assert.equal(last(mod).jwt?.aud, mod.did)
    assert.equal(last(mod).jwt?.lxm, 'com.atproto.moderation.createReport')

    // A taken-down account may still report (its appeal), and nothing else goes through.
    pds.hearth.services.accounts.setTakedown(erin.did, { applied: true, ref: 'test-takedown' })
    const login = await fetch(`${pds.url}/xrpc/com.atproto.server.createSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ identifier: erin.handle, password: erin.password, allowTakendown: true }),
    })
    assert.equal(login.status, 200)
    const { accessJwt } = (await login.json()) as { accessJwt: string }
    const report = await fetch(`${pds.url}/xrpc/com.atproto.moderation.createReport`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${accessJwt}` },
      body: JSON.stringify({ reasonType: 'com.atproto.moderation.defs#reasonAppeal', subject: { $type: 'com.atproto.admin.defs#repoRef', did: erin.did } }),
    })
    assert.equal(report.status, 200)
    assert.equal(((await report.json()) as { reportedBy: string }).reportedBy, erin.did)
    const timeline = await fetch(`${pds.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${accessJwt}` } })
    assert.equal(timeline.status, 400)
    assert.equal(((await timeline.json()) as { error: string }).error, 'InvalidToken')
  })

  it('getRecord of a repo not hosted here is piped through to the AppView, unauthenticated', async () => {
    const ana = await sharedAccount()
    const before = appView.calls.length
    const uri = `at://${OTHER_DID}/app.bsky.feed.generator/hot`
    const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.getRecord?repo=${OTHER_DID}&collection=app.bsky.feed.generator&rkey=hot`)
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { uri: string }).uri, uri)
    const call = last(appView)
    assert.equal(appView.calls.length, before + 1)
    assert.equal(call.nsid, 'com.atproto.repo.getRecord')
    assert.equal(call.headers.authorization, undefined)
    assert.match(call.url, /rkey=hot/)
    // A repo hosted here never reaches the AppView, found or not.
    const own = await ana.agent.post({ text: 'mine' })
    const rkey = own.uri.split('/').pop() as string
    const local = await ana.agent.com.atproto.repo.getRecord({ repo: ana.handle, collection: 'app.bsky.feed.post', rkey })
    assert.equal(local.data.uri, own.uri)
    await rejectsWith(ana.agent.com.atproto.repo.getRecord({ repo: ana.did, collection: 'app.bsky.feed.post', rkey: '3kzzzzzzzzz22' }), 400, 'RecordNotFound')
    assert.equal(appView.calls.length, before + 1)
  })

  it('resolveHandle: local handles from the database, others from the AppView (official order)', async () => {
    const ben = await sharedAccount()
    const resolve = (handle: string) => fetch(`${pds.url}/xrpc/com.atproto.identity.resolveHandle?handle=${handle}`)
    const before = appView.calls.length
    assert.deepEqual(await (await resolve(ben.handle)).json(), { did: ben.did })
    // Under our own domain but unknown: no such handle, without asking anyone.
    const ours = await resolve('nobody-here.test')
    assert.equal(ours.status, 400)
    assert.deepEqual(await ours.json(), { error: 'HandleNotFound', message: 'Unable to resolve handle' })
    assert.equal(appView.calls.length, before)
    assert.deepEqual(await (await resolve('someone.example.com')).json(), { did: OTHER_DID })
    assert.equal(last(appView).nsid, 'com.atproto.identity.resolveHandle')
    assert.equal(last(appView).headers.authorization, undefined)
    // The AppView's refusal or a malformed answer: the official error.
    for (const handle of ['unknown.example.com', 'bad-answer.example.com']) {
      const r = await resolve(handle)
      assert.equal(r.status, 400, handle)
      assert.deepEqual(await r.json(), { error: 'InvalidRequest', message: 'Unable to resolve handle' })
    }
    assert.equal(appView.calls.length, before + 3)
  })

  it('getPreferences is served here unless atproto-proxy names another service; putPreferences then refuses (400)', async () => {
    const cat = await sharedAccount()
    await cat.agent.app.bsky.actor.putPreferences({ preferences: [{ $type: 'app.bsky.actor.defs#savedFeedsPref', pinned: [], saved: [] }] })
    const chatBefore = chat.calls.length
    const local = await cat.agent.app.bsky.actor.getPreferences({})
    assert.deepEqual(local.data.preferences.map((p) => p.$type), ['app.bsky.actor.defs#savedFeedsPref'])
    const viaAppView = await cat.agent.app.bsky.actor.getPreferences({}, { headers: { 'atproto-proxy': `${appView.did}#bsky_appview` } })
    assert.deepEqual(viaAppView.data.preferences.map((p) => p.$type), ['app.bsky.actor.defs#savedFeedsPref'])
    const viaChat = await cat.agent.app.bsky.actor.getPreferences({}, { headers: { 'atproto-proxy': `${chat.did}#bsky_chat` } })
    assert.deepEqual(viaChat.data.preferences, [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }])
    assert.equal(chat.calls.length, chatBefore + 1)
    const call = last(chat)
    // As official, the token's audience is the header's `did#service_id`.
    assert.deepEqual(call.jwt && [call.jwt.iss, call.jwt.aud, call.jwt.lxm], [cat.did, `${chat.did}#bsky_chat`, 'app.bsky.actor.getPreferences'])
    const put = await fetch(`${pds.url}/xrpc/app.bsky.actor.putPreferences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${cat.agent.session?.accessJwt}`, 'atproto-proxy': `${chat.did}#bsky_chat` },
      body: JSON.stringify({ preferences: [] }),
    })
    // The official's pipethrough refuses procedures with a 500; here the client hears it as the
    // client's error (no request may end in a 5xx), with the official's message.
    assert.equal(put.status, 400)
    assert.deepEqual(await put.json(), { error: 'InvalidRequest', message: 'Proxying of POST requests is not supported' })
    assert.equal(chat.calls.length, chatBefore + 1)
    assert.equal((await cat.agent.app.bsky.actor.getPreferences({})).data.preferences.length, 1, 'nothing was replaced')
  })

  it('HEAD is taken where GET is: registered queries and proxied ones', async () => {
    const dot = await sharedAccount()
    const auth = { authorization: `Bearer ${dot.agent.session?.accessJwt}` }
    const proxied = await fetch(`${pds.url}/xrpc/app.bsky.graph.getFollows?actor=${OTHER_DID}`, { method: 'HEAD', headers: auth })
    assert.equal(proxied.status, 200)
    assert.equal(await proxied.text(), '')
    assert.equal(last(appView).nsid, 'app.bsky.graph.getFollows')
    assert.equal(last(appView).method, 'HEAD')
    assert.equal(last(appView).jwt?.lxm, 'app.bsky.graph.getFollows')
    const registered = await fetch(`${pds.url}/xrpc/app.bsky.feed.getTimeline`, { method: 'HEAD', headers: auth })
    assert.equal(registered.status, 200)
    assert.equal(last(appView).method, 'HEAD')
    // As official (checked against 0.4.217): a HEAD no GET route takes goes to the proxy even
    // when the lexicon says POST; never "Incorrect HTTP method".
    const procedure = await fetch(`${pds.url}/xrpc/app.bsky.notification.registerPush`, { method: 'HEAD', headers: auth })
    assert.equal(procedure.status, 200)
    assert.deepEqual([last(appView).method, last(appView).nsid], ['HEAD', 'app.bsky.notification.registerPush'])
    const anon = await fetch(`${pds.url}/xrpc/app.bsky.notification.registerPush`, { method: 'HEAD' })
    assert.equal(anon.status, 401)
  })

  it('a client that leaves takes the upstream request with it (fallback and handlers)', async () => {
    const eve = await sharedAccount()
    const auth = { authorization: `Bearer ${eve.agent.session?.accessJwt}` }
    const leaveEarly = async (path: string, nsid: string) => {
      const controller = new AbortController()
      const before = appView.calls.length
      const pending = fetch(`${pds.url}${path}`, { headers: auth, signal: controller.signal }).catch((err: Error) => err)
      let call: ReceivedCall | undefined
      for (let i = 0; i < 200 && !call; i++) {
        call = appView.calls.slice(before).find((c) => c.nsid === nsid)
        if (!call) await new Promise((r) => setTimeout(r, 10))
      }
      assert.ok(call, `${nsid} reached the AppView`)
      controller.abort()
      assert.ok((await pending) instanceof Error)
      // Well before the 10 s headers timeout: the PDS dropped its request when the client left.
      for (let i = 0; i < 200 && !call.aborted; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(call.aborted, true, `${nsid}: the upstream request was closed`)
    }
    await leaveEarly('/xrpc/app.bsky.unspecced.hang', 'app.bsky.unspecced.hang')
    hangTimeline = true
    try {
      await leaveEarly('/xrpc/app.bsky.feed.getTimeline', 'app.bsky.feed.getTimeline')
    } finally {
      hangTimeline = false
    }
  })

  it('the test services refuse forged, expired and wrong-audience tokens', async () => {
    const fay = await pds.createAccount('fay')
    const key = pds.hearth.services.actors.get(fay.did)?.keypair()
    assert.ok(key)
    const lxm = 'app.bsky.feed.getTimeline'
    const good = createServiceJwt({ iss: fay.did, aud: appView.did, lxm, keypair: key })
    assert.deepEqual(await appView.verify(good, lxm), { ok: true })
    const forged = createServiceJwt({ iss: fay.did, aud: appView.did, lxm, keypair: Secp256k1Keypair.create() })
    assert.equal((await appView.verify(forged, lxm)).ok, false)
    const now = Math.floor(Date.now() / 1000)
    const expired = createServiceJwt({ iss: fay.did, aud: appView.did, lxm, keypair: key, iat: now - 120, exp: now - 60 })
    assert.deepEqual(await appView.verify(expired, lxm), { ok: false, error: 'JwtExpired' })
    const wrongAud = await fay.agent.com.atproto.server.getServiceAuth({ aud: chat.did, lxm })
    assert.deepEqual(await appView.verify(wrongAud.data.token, lxm), { ok: false, error: 'BadJwtAudience' })
    const wrongLxm = createServiceJwt({ iss: fay.did, aud: appView.did, lxm: 'app.bsky.actor.getProfile', keypair: key })
    assert.deepEqual(await appView.verify(wrongLxm, lxm), { ok: false, error: 'BadJwtLexiconMethod' })
    // And over HTTP: the service answers 401 to a forged token.
    const r = await fetch(`${appView.url}/xrpc/${lxm}`, { headers: { authorization: `Bearer ${forged}` } })
    assert.equal(r.status, 401)
  })

  it('getServiceAuth keeps the official limits on lxm and exp', async () => {
    const gus = await pds.createAccount('gus')
    const now = Math.floor(Date.now() / 1000)
    await rejectsWith(gus.agent.com.atproto.server.getServiceAuth({ aud: appView.did, exp: now + 2 * 3600, lxm: 'app.bsky.feed.getTimeline' }), 400, 'BadExpiration')
    await rejectsWith(gus.agent.com.atproto.server.getServiceAuth({ aud: appView.did, exp: now + 300 }), 400, 'BadExpiration')
    await rejectsWith(gus.agent.com.atproto.server.getServiceAuth({ aud: appView.did, lxm: 'com.atproto.server.getSession' }), 400, 'InvalidRequest')
    const ok = await gus.agent.com.atproto.server.getServiceAuth({ aud: appView.did, exp: now + 1800, lxm: 'app.bsky.feed.getTimeline' })
    assert.deepEqual(await appView.verify(ok.data.token, 'app.bsky.feed.getTimeline'), { ok: true })
  })

  it('bad atproto-proxy values and an unreachable upstream give the official errors quickly', async () => {
    const hal = await pds.createAccount('hal')
    const auth = { authorization: `Bearer ${hal.agent.session?.accessJwt}` }
    const get = (proxy: string) => fetch(`${pds.url}/xrpc/app.bsky.graph.getFollows?actor=${OTHER_DID}`, { headers: { ...auth, 'atproto-proxy': proxy } })
    const cases: Array<[string, string]> = [
      ['#bsky_appview', 'no did specified in proxy header'],
      [appView.did, 'no service id specified in proxy header'],
      [`${appView.did}#a#b`, 'invalid proxy header format'],
      [`${appView.did}#no_such_service`, 'could not resolve proxy did service url'],
      ['did:web:localhost%3A1#bsky_appview', 'could not resolve proxy did'],
    ]
    for (const [value, message] of cases) {
      const r = await get(value)
      assert.equal(r.status, 400, value)
      assert.deepEqual(await r.json(), { error: 'InvalidRequest', message }, value)
    }
    const started = Date.now()
    const dead = await get(`${appView.did}#dead_service`)
    assert.equal(dead.status, 502)
    assert.deepEqual(await dead.json(), { error: 'UpstreamFailure', message: 'Upstream service unreachable' })
    assert.ok(Date.now() - started < 3000)
  })
})

describe('service proxying with SSRF protection on and a short upstream timeout', () => {
  let appView: TestService
  let hostile: TestService
  let pds: TestPds

  before(async () => {
    hostile = await startTestService({ services: [] })
    appView = await startTestService({
      services: [
        { id: 'bsky_appview', type: 'BskyAppView' },
        // A DID document pointing at this machine's loopback and at a private network address.
        { id: 'hostile', type: 'BskyAppView', endpoint: hostile.url },
        { id: 'private_net', type: 'BskyAppView', endpoint: 'https://10.0.0.1' },
        { id: 'plain_http', type: 'BskyAppView', endpoint: 'http://public.example.com' },
      ],
      handler: (call) => (call.nsid === 'app.bsky.feed.getTimeline' ? { hang: true } : { body: {} }),
    })
    pds = await startTestPds({
      env: {
        PDS_BSKY_APP_VIEW_URL: appView.url,
        PDS_BSKY_APP_VIEW_DID: appView.did,
        PDS_DISABLE_SSRF_PROTECTION: 'false',
        PDS_PROXY_HEADERS_TIMEOUT: '300',
      },
    })
    appView.setPlcUrl(pds.plcUrl)
  })

  after(async () => {
    await pds?.close()
    await Promise.all([appView?.close(), hostile?.close()])
  })

  it('refuses an atproto-proxy service at a private address, without connecting to it', async () => {
    const ivy = await pds.createAccount('ivy')
    for (const id of ['hostile', 'private_net', 'plain_http']) {
      await rejectsWith(ivy.agent.app.bsky.graph.getFollows({ actor: OTHER_DID }, { headers: { 'atproto-proxy': `${appView.did}#${id}` } }), 502, 'UpstreamFailure')
    }
    assert.equal(hostile.calls.length, 0)
  })

  it('a hung upstream gives UpstreamFailure after the headers timeout, not a hung request', async () => {
    const jo = await pds.createAccount('jo')
    const started = Date.now()
    await rejectsWith(jo.agent.app.bsky.feed.getTimeline({}), 502, 'UpstreamFailure')
    const took = Date.now() - started
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`)
  })
})
