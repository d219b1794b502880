// The core account flow through the official client: sign up, the DID document at the PLC
// directory, log in by handle/email/DID, refresh, log out.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { type DidDocument, getSigningKey } from '../../../src/identity/did-doc.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'

let pds: TestPds
before(async () => {
  pds = await startTestPds()
})
after(async () => {
  await pds?.close()
})

test('createAccount makes a did:plc whose document points here with the repo signing key', async () => {
  const { did, handle, agent } = await pds.createAccount('alice')
  assert.match(did, /^did:plc:[a-z2-7]{24}$/)
  const res = await fetch(`${pds.plcUrl}/${did}`)
  assert.equal(res.status, 200)
  const doc = (await res.json()) as {
    alsoKnownAs: string[]
    service: Array<{ id: string; serviceEndpoint: string }>
    verificationMethod: Array<{ id: string; publicKeyMultibase: string }>
  }
  assert.deepEqual(doc.alsoKnownAs, [`at://${handle}`])
  assert.equal(doc.service.find((s) => s.id.endsWith('#atproto_pds'))?.serviceEndpoint, pds.url)
  const store = pds.hearth.services.actors.get(did)
  assert.ok(store)
  assert.equal(getSigningKey(doc as unknown as DidDocument), store.keypair().did())
  const session = await agent.com.atproto.server.getSession()
  assert.equal(session.data.did, did)
  assert.equal(session.data.handle, handle)
  assert.equal(session.data.active, true)
})

test('login by handle, email and DID; refresh rotates; logout stops the tokens at once', async () => {
  const { did, handle, password } = await pds.createAccount('bob')
  for (const identifier of [handle, `${handle}@example.com`, did]) {
    const agent = new AtpAgent({ service: pds.url })
    await agent.login({ identifier, password })
    assert.equal(agent.session?.did, did)
  }
  const agent = new AtpAgent({ service: pds.url })
  await agent.login({ identifier: handle, password })
  const firstAccess = agent.session?.accessJwt
  const refreshed = await agent.com.atproto.server.refreshSession(undefined, {
    headers: { authorization: `Bearer ${agent.session?.refreshJwt}` },
  })
  assert.notEqual(refreshed.data.accessJwt, firstAccess)
  await assert.rejects(
    agent.login({ identifier: handle, password: 'wrong password' }),
    (err: { error?: string; status?: number }) => err.status === 401 && err.error === 'AuthenticationRequired',
  )
  // Log out with the new refresh token; its access token is refused from then on.
  await agent.com.atproto.server.deleteSession(undefined, {
    headers: { authorization: `Bearer ${refreshed.data.refreshJwt}` },
  })
  const res = await fetch(`${pds.url}/xrpc/com.atproto.server.getSession`, {
    headers: { authorization: `Bearer ${refreshed.data.accessJwt}` },
  })
  assert.equal(res.status, 400)
  assert.equal(((await res.json()) as { error: string }).error, 'ExpiredToken')
})

test('createAccount refuses bad and taken handles and emails with the official errors', async () => {
  const carol = await pds.createAccount('carol')
  const agent = new AtpAgent({ service: pds.url })
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ handle: 'x.test', email: 'x@example.com', password: 'pw' }, 'InvalidHandle'],
    [{ handle: 'someone.example.org', email: 'y@example.com', password: 'pw' }, 'UnsupportedDomain'],
    [{ handle: carol.handle, email: 'z@example.com', password: 'pw' }, 'InvalidRequest'],
    [{ handle: 'dave99.test', email: `${carol.handle}@example.com`, password: 'pw' }, 'InvalidRequest'],
    [{ handle: 'erin99.test', email: 'not-an-email', password: 'pw' }, 'InvalidRequest'],
    [{ handle: 'fred99.test', email: 'f@example.com', password: 'p'.repeat(257) }, 'InvalidRequest'],
  ]
  for (const [input, error] of cases) {
    const res = await fetch(`${pds.url}/xrpc/com.atproto.server.createAccount`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    })
    assert.equal(res.status, 400, JSON.stringify(input))
    const errBody = (await res.json()) as { error: string; message: string }
    assert.equal(errBody.error, error, `${JSON.stringify(input)} → ${errBody.message}`)
  }
  const desc = await agent.com.atproto.server.describeServer()
  assert.deepEqual(desc.data.availableUserDomains, ['.test'])
  assert.equal(desc.data.inviteCodeRequired, false)
})
