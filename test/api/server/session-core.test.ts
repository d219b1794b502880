// The core account flow through the official client: sign up, the DID document at the PLC
// directory, log in by handle/email/DID, refresh, log out.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { type DidDocument, getSigningKey } from '../../../src/identity/did-doc.ts'
import { createServiceJwt } from '../../../src/auth/jwt.ts'
import { PlcClient } from '../../../src/identity/plc-client.ts'
import { createGenesisOp } from '../../../src/identity/plc-ops.ts'
import { Secp256k1Keypair } from '../../../src/repo/crypto/index.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { call } from './helpers.ts'

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
  // Handles and emails are stored lower-cased; the email is then taken in any case.
  const mixed = await call(pds, 'com.atproto.server.createAccount', {
    json: { handle: 'MixedCase.TEST', email: 'Mixed@Example.com', password: 'pw-mixed' },
  })
  assert.equal(mixed.status, 200)
  assert.equal(mixed.body.handle, 'mixedcase.test')
  const sameEmail = await call(pds, 'com.atproto.server.createAccount', {
    json: { handle: 'mixedtwo.test', email: 'MIXED@example.com', password: 'pw-mixed' },
  })
  assert.equal(sameEmail.status, 400)
  assert.match(sameEmail.body.message, /Email already taken/)
  const desc = await agent.com.atproto.server.describeServer()
  assert.deepEqual(desc.data.availableUserDomains, ['.test'])
  assert.equal(desc.data.inviteCodeRequired, false)
})

test('an existing DID moves in with a service-auth token from itself, deactivated', async () => {
  // A did:plc made elsewhere: its own key signs the service-auth token asking to move here.
  const key = Secp256k1Keypair.create()
  const { did, op } = await createGenesisOp({
    signingKey: key.did(),
    handle: 'mover.elsewhere.example',
    pdsEndpoint: 'https://elsewhere.example',
    rotationKey: key,
  })
  await new PlcClient({ url: pds.plcUrl }).sendOperation(did, op)
  const serviceDid = pds.hearth.services.config.service.did
  const input = { handle: 'mover.test', email: 'mover@example.com', password: 'pw-mover', did }

  const unauthed = await call(pds, 'com.atproto.server.createAccount', { json: input })
  assert.equal(unauthed.status, 401)
  assert.equal(unauthed.body.error, 'AuthenticationRequired')
  const wrongLxm = createServiceJwt({ iss: did, aud: serviceDid, lxm: 'com.atproto.server.getSession', keypair: key })
  assert.equal((await call(pds, 'com.atproto.server.createAccount', { json: input, bearer: wrongLxm })).body.error, 'BadJwtLexiconMethod')
  const otherKey = createServiceJwt({ iss: did, aud: serviceDid, lxm: 'com.atproto.server.createAccount', keypair: Secp256k1Keypair.create() })
  assert.equal((await call(pds, 'com.atproto.server.createAccount', { json: input, bearer: otherKey })).status, 401)

  const token = createServiceJwt({ iss: did, aud: serviceDid, lxm: 'com.atproto.server.createAccount', keypair: key })
  const created = await call(pds, 'com.atproto.server.createAccount', { json: input, bearer: token })
  assert.equal(created.status, 200, JSON.stringify(created.body))
  assert.equal(created.body.did, did)
  const session = await call(pds, 'com.atproto.server.getSession', { bearer: created.body.accessJwt })
  assert.equal(session.body.active, false)
  assert.equal(session.body.status, 'deactivated')
  // Its DID document still points at the old PDS and key.
  const status = await call(pds, 'com.atproto.server.checkAccountStatus', { bearer: created.body.accessJwt })
  assert.equal(status.body.activated, false)
  assert.equal(status.body.validDid, false)
  // A second attempt for the same DID is refused.
  const again = await call(pds, 'com.atproto.server.createAccount', {
    json: { ...input, handle: 'mover2.test', email: 'mover2@example.com' },
    bearer: createServiceJwt({ iss: did, aud: serviceDid, lxm: 'com.atproto.server.createAccount', keypair: key }),
  })
  assert.equal(again.status, 400)
})
