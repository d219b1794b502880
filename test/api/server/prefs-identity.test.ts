// Preferences stored on this PDS, resolveHandle, describeServer, and one account's credentials
// never reaching another's data.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { call, restartPds } from './helpers.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(async () => {
  await pds?.close()
})

const ADULT = { $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }
const FEEDS = {
  $type: 'app.bsky.actor.defs#savedFeedsPrefV2',
  items: [{ id: '3l6xyz', type: 'timeline', value: 'following', pinned: true }],
}
const DETAILS = { $type: 'app.bsky.actor.defs#personalDetailsPref', birthDate: '2000-01-01T00:00:00.000Z' }

test('preferences: round trip, a put replaces the namespace, each account sees only its own', async () => {
  const alice = await pds.createAccount('prefa')
  const bob = await pds.createAccount('prefb')
  assert.deepEqual((await alice.agent.app.bsky.actor.getPreferences()).data.preferences, [])

  await alice.agent.app.bsky.actor.putPreferences({ preferences: [ADULT, FEEDS] })
  assert.deepEqual((await alice.agent.app.bsky.actor.getPreferences()).data.preferences, [ADULT, FEEDS])
  // Bob's token reads and writes Bob's preferences only.
  assert.deepEqual((await bob.agent.app.bsky.actor.getPreferences()).data.preferences, [])
  await bob.agent.app.bsky.actor.putPreferences({ preferences: [] })
  assert.deepEqual((await alice.agent.app.bsky.actor.getPreferences()).data.preferences, [ADULT, FEEDS])

  const muted = { $type: 'app.bsky.actor.defs#mutedWordsPref', items: [] }
  await alice.agent.app.bsky.actor.putPreferences({ preferences: [muted] })
  assert.deepEqual((await alice.agent.app.bsky.actor.getPreferences()).data.preferences, [muted])

  // Kept across a restart (they live in the actor store).
  await restartPds(pds)
  assert.deepEqual((await alice.agent.app.bsky.actor.getPreferences()).data.preferences, [muted])
})

test('preferences: personal details need a password session; the declared age is derived, not stored', async () => {
  const carol = await pds.createAccount('prefc')
  await carol.agent.app.bsky.actor.putPreferences({
    preferences: [ADULT, DETAILS, { $type: 'app.bsky.actor.defs#declaredAgePref', isOverAge13: false }],
  })
  const full = (await carol.agent.app.bsky.actor.getPreferences()).data.preferences
  assert.deepEqual(full, [
    ADULT,
    DETAILS,
    { $type: 'app.bsky.actor.defs#declaredAgePref', isOverAge13: true, isOverAge16: true, isOverAge18: true },
  ])

  const { data: appPw } = await carol.agent.com.atproto.server.createAppPassword({ name: 'client' })
  const app = new AtpAgent({ service: pds.url })
  await app.login({ identifier: carol.handle, password: appPw.password })
  const seen = (await app.app.bsky.actor.getPreferences()).data.preferences
  assert.ok(!seen.some((p) => p.$type === DETAILS.$type))
  assert.ok(seen.some((p) => p.$type === 'app.bsky.actor.defs#declaredAgePref'))

  const refused = await call(pds, 'app.bsky.actor.putPreferences', {
    json: { preferences: [DETAILS] },
    bearer: app.session?.accessJwt,
  })
  assert.equal(refused.status, 400)
  assert.match(refused.body.message, /Do not have authorization to set preferences/)
  // A put from the app password leaves the personal details it cannot see in place.
  await app.app.bsky.actor.putPreferences({ preferences: [FEEDS] })
  const after = (await carol.agent.app.bsky.actor.getPreferences()).data.preferences
  assert.deepEqual(after.slice(0, 2), [DETAILS, FEEDS])
})

test('preferences: bad input is a 400, never stored', async () => {
  const dave = await pds.createAccount('prefd')
  const token = dave.agent.session?.accessJwt
  const bad: unknown[] = [
    {},
    { preferences: 'all' },
    { preferences: [{ enabled: true }] },
    { preferences: [{ $type: 'com.example.pref', x: 1 }] },
    { preferences: [{ $type: 'app.bskyother#pref' }] },
    { preferences: [null] },
  ]
  for (const json of bad) {
    const res = await call(pds, 'app.bsky.actor.putPreferences', { json, bearer: token })
    assert.equal(res.status, 400, JSON.stringify(json))
    assert.equal(res.body.error, 'InvalidRequest', JSON.stringify(json))
  }
  assert.deepEqual((await dave.agent.app.bsky.actor.getPreferences()).data.preferences, [])
  const anon = await call(pds, 'app.bsky.actor.getPreferences')
  assert.equal(anon.status, 401)
  assert.equal(anon.body.error, 'AuthMissing')
  const forged = await call(pds, 'app.bsky.actor.getPreferences', { bearer: `${token}x` })
  assert.equal(forged.status, 400)
  assert.equal(forged.body.error, 'InvalidToken')
})

test('resolveHandle: local accounts, our unknown handles, then DNS/HTTPS for others', async () => {
  const erin = await pds.createAccount('resolve')
  const res = await pds.agent().com.atproto.identity.resolveHandle({ handle: erin.handle })
  assert.equal(res.data.did, erin.did)
  const upper = await call(pds, 'com.atproto.identity.resolveHandle', { query: { handle: erin.handle.toUpperCase() } })
  assert.equal(upper.body.did, erin.did)

  const resolver = pds.hearth.services.handleResolver
  const original = resolver.resolve
  const asked: string[] = []
  resolver.resolve = async (handle: string) => {
    asked.push(handle)
    if (handle === 'alice.example.com') return 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
    if (handle === 'weird.example.com') return 'not a did'
    return undefined
  }
  try {
    const ext = await call(pds, 'com.atproto.identity.resolveHandle', { query: { handle: 'Alice.Example.com' } })
    assert.equal(ext.status, 200)
    assert.equal(ext.body.did, 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb')
    for (const handle of ['ghost.test', 'nobody.example.com', 'weird.example.com']) {
      const r = await call(pds, 'com.atproto.identity.resolveHandle', { query: { handle } })
      assert.equal(r.status, 400, handle)
      // Our own domain: HandleNotFound, as the official 0.5 line.
      assert.equal(r.body.error, handle === 'ghost.test' ? 'HandleNotFound' : 'InvalidRequest', handle)
      assert.equal(r.body.message, 'Unable to resolve handle', handle)
    }
    // Our own domain is never asked about on the network.
    assert.ok(!asked.includes('ghost.test'))
  } finally {
    resolver.resolve = original
  }
  const badQueries: Array<Record<string, string>> = [{}, { handle: 'not a handle' }, { handle: '-bad-.test' }]
  for (const query of badQueries) {
    const r = await call(pds, 'com.atproto.identity.resolveHandle', { query })
    assert.equal(r.status, 400, JSON.stringify(query))
    assert.ok(['InvalidRequest', 'InvalidHandle'].includes(r.body.error), JSON.stringify(r.body))
  }
})

test('describeServer: the service DID, domains, invites, links and contact', async () => {
  const { data } = await pds.agent().com.atproto.server.describeServer()
  const config = pds.hearth.services.config
  assert.equal(data.did, config.service.did)
  assert.deepEqual(data.availableUserDomains, config.identity.serviceHandleDomains)
  assert.equal(data.inviteCodeRequired, false)
  assert.equal(data.phoneVerificationRequired, undefined, 'not sent, as the official')
  assert.deepEqual(data.links, {})
  assert.deepEqual(data.contact, {})
})

test("one account's tokens never reach another's session or app passwords", async () => {
  const a = await pds.createAccount('crossa')
  const b = await pds.createAccount('crossb')
  await b.agent.com.atproto.server.createAppPassword({ name: 'b-only' })
  const sess = await a.agent.com.atproto.server.getSession()
  assert.equal(sess.data.did, a.did)
  assert.equal(sess.data.email, `${a.handle}@example.com`)
  assert.deepEqual((await a.agent.com.atproto.server.listAppPasswords()).data.passwords, [])
  // Revoking a name that only B has, with A's token, leaves B's in place.
  await a.agent.com.atproto.server.revokeAppPassword({ name: 'b-only' })
  assert.equal((await b.agent.com.atproto.server.listAppPasswords()).data.passwords.length, 1)
  // A's refresh token cannot end B's session, nor can an access token be used as a refresh token.
  const asRefresh = await call(pds, 'com.atproto.server.refreshSession', { rawBody: '', bearer: a.agent.session?.accessJwt })
  assert.equal(asRefresh.status, 400)
  assert.equal(asRefresh.body.error, 'InvalidToken')
  const asDelete = await call(pds, 'com.atproto.server.deleteSession', { rawBody: '', bearer: b.agent.session?.accessJwt })
  assert.equal(asDelete.status, 400)
  assert.equal((await b.agent.com.atproto.server.getSession()).data.did, b.did)
})
