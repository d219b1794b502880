// com.atproto.identity.* end to end through the official client against a real Hearth and a real
// PLC directory: handle changes (service domain, custom domain proven over HTTP, did:web), the
// migration trio (getRecommendedDidCredentials, signPlcOperation, submitPlcOperation) and the
// resolution methods.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { createServiceJwt } from '../../../src/auth/jwt.ts'
import { HandleResolver, type TxtResolver } from '../../../src/identity/handle-resolver.ts'
import { createGenesisOp, tombstoneOp, updateOp, type PlcOperation } from '../../../src/identity/plc-ops.ts'
import type { AddressResolver } from '../../../src/identity/safe-fetch.ts'
import { Secp256k1Keypair } from '../../../src/repo/crypto/index.ts'
import { decodeCbor } from '../../../src/repo/cbor.ts'
import { updateAccountHandle } from '../../../src/actions/handle.ts'
import { startTestPds, type TestPds } from '../../helpers/pds.ts'
import { xrpcError } from '../../helpers/xrpc-error.ts'
import { startServer, type TestServer } from '../../identity/helpers.ts'
import { clientFailure } from '../../helpers/xrpc-error.ts'

let pds: TestPds
let wellKnown: TestServer
/** What each custom domain's /.well-known/atproto-did answers (absent: 404). */
const wellKnownDids = new Map<string, string>()

type Account = Awaited<ReturnType<TestPds['createAccount']>>

const toLoopback: AddressResolver = async () => [{ address: '127.0.0.1', family: 4 }]
const noTxt: TxtResolver = async () => {
  throw Object.assign(new Error('no TXT'), { code: 'ENODATA' })
}


const services = () => pds.hearth.services
/** An operation as the client's `unknown` body type. */
const asBody = (op: object) => op as Record<string, unknown>

function lastIdentityEvent(did: string): { seq: number; body: { did: string; handle?: string } } | null {
  const row = services().sequencer.lastOfType(did, 'identity')
  return row ? { seq: row.seq, body: decodeCbor(row.event) as { did: string; handle?: string } } : null
}

async function plcData(did: string) {
  return services().plc.getDocumentData(did)
}

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'other', 'hana', 'ivy'] as const
const accounts = {} as Record<(typeof NAMES)[number], Account>

before(async () => {
  pds = await startTestPds()
  // Together: each signup's password hashing is most of its cost.
  const created = await Promise.all(NAMES.map((n) => pds.createAccount(n)))
  NAMES.forEach((n, i) => (accounts[n] = created[i]))
  wellKnown = await startServer((req, res) => {
    const host = (req.headers.host ?? '').split(':')[0]
    const did = wellKnownDids.get(host)
    if (req.url !== '/.well-known/atproto-did' || !did) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${did}\n`)
  })
  // Custom domains: every name is this loopback server, over plain http, and DNS knows none.
  services().handleResolver = new HandleResolver({
    allowPrivate: true,
    resolveAddress: toLoopback,
    resolveTxt: noTxt,
    wellKnownUrl: (h) => `http://${h}:${wellKnown.port}/.well-known/atproto-did`,
  })
})

after(async () => {
  await wellKnown?.close()
  await pds?.close()
})

describe('updateHandle', () => {
  let alice: Account
  before(async () => {
    alice = accounts.alice
  })

  test('to a service-domain handle: PLC document, account, cache, #identity, resolution', async () => {
    // Fill the DID cache, so that a stale entry would show.
    const before = await pds.agent().com.atproto.identity.resolveDid({ did: alice.did })
    assert.deepEqual((before.data.didDoc as { alsoKnownAs: string[] }).alsoKnownAs, [`at://${alice.handle}`])
    const newHandle = 'alice-renamed.test'
    await alice.agent.com.atproto.identity.updateHandle({ handle: 'Alice-Renamed.TEST' })

    assert.deepEqual((await plcData(alice.did)).alsoKnownAs, [`at://${newHandle}`])
    assert.equal(services().accounts.getAccount(alice.did)?.handle, newHandle)
    assert.deepEqual(lastIdentityEvent(alice.did)?.body, { did: alice.did, handle: newHandle })
    const after = await pds.agent().com.atproto.identity.resolveDid({ did: alice.did })
    assert.deepEqual((after.data.didDoc as { alsoKnownAs: string[] }).alsoKnownAs, [`at://${newHandle}`])

    const resolved = await pds.agent().com.atproto.identity.resolveHandle({ handle: newHandle })
    assert.equal(resolved.data.did, alice.did)
    const old = await clientFailure(pds.agent().com.atproto.identity.resolveHandle({ handle: alice.handle }))
    assert.equal(old.status, 400)
    const session = await alice.agent.com.atproto.server.getSession()
    assert.equal(session.data.handle, newHandle)
    alice.handle = newHandle
  })

  test('the same handle again: no PLC operation, but a new #identity event', async () => {
    const log = await services().plc.getOperationLog(alice.did)
    const prior = lastIdentityEvent(alice.did)
    await alice.agent.com.atproto.identity.updateHandle({ handle: alice.handle })
    assert.equal((await services().plc.getOperationLog(alice.did)).length, log.length)
    const evt = lastIdentityEvent(alice.did)
    assert.ok(evt && prior && evt.seq > prior.seq)
    assert.deepEqual(evt.body, { did: alice.did, handle: alice.handle })
  })

  test('a handle another account holds', async () => {
    const bob = accounts.bob
    const err = await clientFailure(alice.agent.com.atproto.identity.updateHandle({ handle: bob.handle }))
    // HandleNotAvailable as the official 0.5 line (validateHandleUpdate); 0.4.217 said InvalidRequest.
    assert.deepEqual(err, { status: 400, error: 'HandleNotAvailable', message: `Handle already taken: ${bob.handle}` })
    assert.equal(services().accounts.getAccount(alice.did)?.handle, alice.handle)
  })

  test('invalid handles, with the official errors', async () => {
    const cases: Array<[string, string, string]> = [
      ['ab.test', 'InvalidHandle', 'Handle too short'],
      ['abcdefghijklmnopqrstu.test', 'InvalidHandle', 'Handle too long'],
      ['sub.alice.test', 'InvalidHandle', 'Invalid characters in handle'],
      ['admin.test', 'HandleNotAvailable', 'Reserved handle'],
      ['alice.local', 'InvalidHandle', 'Handle TLD is invalid or disallowed'],
    ]
    for (const [handle, error, message] of cases) {
      const err = await clientFailure(alice.agent.com.atproto.identity.updateHandle({ handle }))
      assert.deepEqual(err, { status: 400, error, message }, handle)
    }
    const syntax = await clientFailure(alice.agent.com.atproto.identity.updateHandle({ handle: 'not a handle' }))
    assert.equal(syntax.status, 400)
    assert.equal(services().accounts.getAccount(alice.did)?.handle, alice.handle)
  })

  test('updateAccountHandle, the operator path: reserved names allowed', async () => {
    const bob = accounts.bob
    await assert.rejects(updateAccountHandle(services(), bob.did, 'support.test'), xrpcError(400, 'HandleNotAvailable'))
    assert.equal(await updateAccountHandle(services(), bob.did, 'Support.test', { allowAnyValid: true }), 'support.test')
    assert.deepEqual((await plcData(bob.did)).alsoKnownAs, ['at://support.test'])
    assert.equal(services().accounts.getAccount(bob.did)?.handle, 'support.test')
    await assert.rejects(
      updateAccountHandle(services(), bob.did, alice.handle, { allowAnyValid: true }),
      xrpcError(400, 'HandleNotAvailable', `Handle already taken: ${alice.handle}`),
    )
    bob.handle = 'support.test'
  })

  test('a handle change the PLC directory refuses (our key no longer rotates the DID)', async () => {
    const s = services()
    const ivy = accounts.ivy
    const userKey = Secp256k1Keypair.create()
    const lastOp = await s.plc.getLastOp(ivy.did)
    await s.plc.sendOperation(ivy.did, await updateOp(lastOp, s.plcRotationKey, { rotationKeys: [userKey.did()] }))
    const err = await clientFailure(ivy.agent.com.atproto.identity.updateHandle({ handle: 'ivy-new.test' }))
    assert.equal(err.status, 400)
    assert.equal(s.accounts.getAccount(ivy.did)?.handle, ivy.handle)
  })

  test('a custom domain that points to the account over HTTPS well-known', async () => {
    const carol = accounts.carol
    wellKnownDids.set('carol.example.com', carol.did)
    await carol.agent.com.atproto.identity.updateHandle({ handle: 'carol.example.com' })
    assert.deepEqual((await plcData(carol.did)).alsoKnownAs, ['at://carol.example.com'])
    assert.equal(services().accounts.getAccount(carol.did)?.handle, 'carol.example.com')
    const resolved = await pds.agent().com.atproto.identity.resolveHandle({ handle: 'carol.example.com' })
    assert.equal(resolved.data.did, carol.did)
    const identity = await pds.agent().com.atproto.identity.resolveIdentity({ identifier: carol.did })
    assert.equal(identity.data.handle, 'carol.example.com')
  })

  test('a custom domain that does not point to the account', async () => {
    const dave = accounts.dave
    wellKnownDids.set('dave.example.com', alice.did)
    const log = await services().plc.getOperationLog(dave.did)
    for (const handle of ['dave.example.com', 'nobody.example.com']) {
      const err = await clientFailure(dave.agent.com.atproto.identity.updateHandle({ handle }))
      assert.deepEqual(err, { status: 400, error: 'InvalidRequest', message: 'External handle did not resolve to DID' })
    }
    assert.equal((await services().plc.getOperationLog(dave.did)).length, log.length)
    assert.equal(services().accounts.getAccount(dave.did)?.handle, dave.handle)
  })

  test('needs a session, and not one of a taken-down account', async () => {
    const anon = await clientFailure(pds.agent().com.atproto.identity.updateHandle({ handle: 'anon1.test' }))
    assert.equal(anon.status, 401)
    const erin = accounts.erin
    services().accounts.setTakedown(erin.did, { applied: true })
    const err = await clientFailure(erin.agent.com.atproto.identity.updateHandle({ handle: 'erin-new.test' }))
    // Hearth ends a taken-down account's sessions outright (official: 401 AccountTakedown).
    assert.ok(err.status === 400 || err.status === 401, err.message)
    assert.equal(services().accounts.getAccount(erin.did, { includeTakenDown: true })?.handle, erin.handle)
    assert.deepEqual((await plcData(erin.did)).alsoKnownAs, [`at://${erin.handle}`])
  })
})

describe('did:web accounts', () => {
  let didWebServer: TestServer
  let did: string
  let agent: AtpAgent
  const key = Secp256k1Keypair.create()
  let docHandle = 'webby.test'
  let serveDoc = true

  before(async () => {
    // On whichever address `localhost` resolves to first, as the DID resolver will connect there.
    didWebServer = await startServer((req, res) => {
      if (req.url !== '/.well-known/did.json' || !serveDoc) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          '@context': ['https://www.w3.org/ns/did/v1'],
          id: did,
          alsoKnownAs: [`at://${docHandle}`],
          verificationMethod: [
            { id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: key.did().slice('did:key:'.length) },
          ],
          service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: services().config.service.publicUrl }],
        }),
      )
    }, 'localhost')
    did = `did:web:localhost%3A${didWebServer.port}`
    const token = createServiceJwt({
      iss: did,
      aud: services().config.service.did,
      lxm: 'com.atproto.server.createAccount',
      keypair: key,
    })
    agent = new AtpAgent({ service: pds.url })
    const created = await agent.com.atproto.server.createAccount(
      { handle: 'webby.test', did, email: 'webby@example.com', password: 'webby-password' },
      { headers: { authorization: `Bearer ${token}` }, encoding: 'application/json' },
    )
    agent.sessionManager.session = { ...created.data, active: false }
  })

  after(async () => {
    await didWebServer?.close()
  })

  test('a handle change must already be in the did.json', async () => {
    const err = await clientFailure(agent.com.atproto.identity.updateHandle({ handle: 'webby2.test' }))
    assert.deepEqual(err, { status: 400, error: 'InvalidRequest', message: 'DID is not properly configured for handle' })
    assert.equal(services().accounts.getAccount(did, { includeDeactivated: true })?.handle, 'webby.test')

    docHandle = 'webby2.test'
    await agent.com.atproto.identity.updateHandle({ handle: 'webby2.test' })
    assert.equal(services().accounts.getAccount(did, { includeDeactivated: true })?.handle, 'webby2.test')
    assert.deepEqual(lastIdentityEvent(did)?.body, { did, handle: 'webby2.test' })
  })

  test('no PLC operations for a did:web', async () => {
    const token = services().accounts.createEmailToken(did, 'plc_operation')
    const err = await clientFailure(agent.com.atproto.identity.signPlcOperation({ token }))
    assert.equal(err.status, 400)
    // The refusal does not spend the code.
    assert.equal(services().accounts.checkEmailToken(did, 'plc_operation', token), 'valid')
  })

  test('resolution: the document, then DidNotFound once the host serves no document', async () => {
    const info = await pds.agent().com.atproto.identity.resolveIdentity({ identifier: did })
    assert.equal((info.data.didDoc as { id: string }).id, did)
    // As resolveHandle: a deactivated account's handle resolves to nothing, so it is unverified.
    assert.equal(info.data.handle, 'handle.invalid')
    serveDoc = false
    try {
      const err = await clientFailure(agent.com.atproto.identity.refreshIdentity({ identifier: did }))
      assert.deepEqual([err.status, err.error], [400, 'DidNotFound'])
    } finally {
      serveDoc = true
    }
  })
})

describe('getRecommendedDidCredentials', () => {
  test('our rotation key, the handle, the repo key we hold, our endpoint', async () => {
    const frank = accounts.frank
    const res = await frank.agent.com.atproto.identity.getRecommendedDidCredentials()
    const repoKey = services().actors.get(frank.did)!.keypair().did()
    assert.deepEqual(res.data, {
      alsoKnownAs: [`at://${frank.handle}`],
      verificationMethods: { atproto: repoKey },
      rotationKeys: [services().plcRotationKey.did()],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: services().config.service.publicUrl } },
    })
    // What a fresh account's document already says.
    const data = await plcData(frank.did)
    assert.deepEqual(data.verificationMethods, res.data.verificationMethods)
    assert.deepEqual(data.rotationKeys, res.data.rotationKeys)
    const anon = await clientFailure(pds.agent().com.atproto.identity.getRecommendedDidCredentials())
    assert.equal(anon.status, 401)
  })
})

describe('signPlcOperation and submitPlcOperation', () => {
  let gina: Account
  before(async () => {
    gina = accounts.gina
  })

  test('signing needs the emailed code: missing, wrong, expired, reused', async () => {
    const sign = (token?: string) => gina.agent.com.atproto.identity.signPlcOperation({ token })
    assert.deepEqual(await clientFailure(sign()), {
      status: 400,
      error: 'InvalidRequest',
      message: 'email confirmation token required to sign PLC operations',
    })
    services().accounts.createEmailToken(gina.did, 'plc_operation')
    assert.deepEqual(await clientFailure(sign('AAAAA-BBBBB')), { status: 400, error: 'InvalidToken', message: 'Token is invalid' })

    const expired = services().accounts.createEmailToken(gina.did, 'plc_operation')
    services()
      .accounts.db.prepare(`UPDATE "email_token" SET "requestedAt" = ? WHERE "did" = ? AND "purpose" = 'plc_operation'`)
      .run(new Date(Date.now() - 60 * 60_000).toISOString(), gina.did)
    assert.deepEqual(await clientFailure(sign(expired)), { status: 400, error: 'ExpiredToken', message: 'Token is expired' })

    // Another account's code is no code for this one.
    const other = accounts.other
    const othersToken = services().accounts.createEmailToken(other.did, 'plc_operation')
    assert.equal((await clientFailure(sign(othersToken))).error, 'InvalidToken')

    const token = services().accounts.createEmailToken(gina.did, 'plc_operation')
    const res = await sign(token.toLowerCase())
    assert.ok(res.data.operation)
    assert.equal((await clientFailure(sign(token))).error, 'InvalidToken')
  })

  test('signs the requested changes over the current document, without submitting', async () => {
    const log = await services().plc.getOperationLog(gina.did)
    const recovery = Secp256k1Keypair.create().did()
    const pdsKey = services().plcRotationKey.did()
    const token = services().accounts.createEmailToken(gina.did, 'plc_operation')
    const res = await gina.agent.com.atproto.identity.signPlcOperation({ token, rotationKeys: [recovery, pdsKey] })
    const op = res.data.operation as unknown as PlcOperation
    assert.equal(op.type, 'plc_operation')
    assert.deepEqual(op.rotationKeys, [recovery, pdsKey])
    assert.deepEqual(op.alsoKnownAs, [`at://${gina.handle}`])
    assert.deepEqual(op.services, (await plcData(gina.did)).services)
    assert.equal(typeof op.sig, 'string')
    assert.equal((await services().plc.getOperationLog(gina.did)).length, log.length, 'not submitted')

    // submitPlcOperation sends it: the directory takes it, relays hear of it.
    const prior = lastIdentityEvent(gina.did)
    await gina.agent.com.atproto.identity.submitPlcOperation({ operation: asBody(op) })
    assert.deepEqual((await plcData(gina.did)).rotationKeys, [recovery, pdsKey])
    const evt = lastIdentityEvent(gina.did)
    assert.ok(evt && prior && evt.seq > prior.seq)
    assert.deepEqual(evt.body, { did: gina.did })
    // The cached document was refreshed too.
    const doc = await pds.agent().com.atproto.identity.resolveDid({ did: gina.did })
    assert.equal((doc.data.didDoc as { id: string }).id, gina.did)
  })

  test('malformed fields are refused at signing time, keeping the code', async () => {
    const token = services().accounts.createEmailToken(gina.did, 'plc_operation')
    const bad: Array<Record<string, unknown>> = [{ services: { atproto_pds: 'nope' } }, { verificationMethods: ['x'] }, { rotationKeys: ['not-a-did-key'] }, { rotationKeys: [] }]
    for (const fields of bad) {
      const err = await clientFailure(gina.agent.com.atproto.identity.signPlcOperation({ token, ...fields }))
      assert.deepEqual([err.status, err.error], [400, 'InvalidRequest'], JSON.stringify(fields))
    }
    assert.equal(services().accounts.checkEmailToken(gina.did, 'plc_operation', token), 'valid')
  })

  test('submitPlcOperation refuses operations that would leave this PDS unable to serve the account', async () => {
    const s = services()
    const lastOp = await s.plc.getLastOp(gina.did)
    const current = await plcData(gina.did)
    const repoKey = s.actors.get(gina.did)!.keypair().did()
    const other = Secp256k1Keypair.create()
    const cases: Array<[Parameters<typeof updateOp>[2], string]> = [
      [{ rotationKeys: [other.did()] }, "Rotation keys do not include server's rotation key"],
      [
        { services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://elsewhere.example' } } },
        'Incorrect endpoint on atproto_pds service',
      ],
      [{ services: { atproto_pds: { type: 'SomethingElse', endpoint: s.config.service.publicUrl } } }, 'Incorrect type on atproto_pds service'],
      [{ verificationMethods: { atproto: other.did() } }, 'Incorrect signing key'],
      [{ alsoKnownAs: ['at://someone-else.test'] }, 'Incorrect handle in alsoKnownAs'],
    ]
    for (const [changes, message] of cases) {
      const op = await updateOp(lastOp, s.plcRotationKey, changes)
      const err = await clientFailure(gina.agent.com.atproto.identity.submitPlcOperation({ operation: asBody(op) }))
      assert.deepEqual(err, { status: 400, error: 'InvalidRequest', message })
    }
    for (const operation of [{ hello: 'world' }, await tombstoneOp(lastOp, s.plcRotationKey)]) {
      const err = await clientFailure(gina.agent.com.atproto.identity.submitPlcOperation({ operation: asBody(operation) }))
      assert.deepEqual(err, { status: 400, error: 'InvalidRequest', message: 'Invalid operation' })
    }
    // Valid for us, but signed by a key the DID does not list: the directory's refusal is a 400.
    const forged = await updateOp(lastOp, other, {})
    const refused = await clientFailure(gina.agent.com.atproto.identity.submitPlcOperation({ operation: asBody(forged) }))
    assert.equal(refused.status, 400)
    assert.deepEqual(await plcData(gina.did), current)
    assert.equal(s.actors.get(gina.did)!.keypair().did(), repoKey)
  })
})

describe('resolveDid, resolveIdentity, refreshIdentity', () => {
  let hana: Account
  before(async () => {
    hana = accounts.hana
  })

  test('resolveDid: a document, or DidNotFound', async () => {
    const res = await pds.agent().com.atproto.identity.resolveDid({ did: hana.did })
    const doc = res.data.didDoc as { id: string; alsoKnownAs: string[] }
    assert.equal(doc.id, hana.did)
    assert.deepEqual(doc.alsoKnownAs, [`at://${hana.handle}`])
    const err = await clientFailure(pds.agent().com.atproto.identity.resolveDid({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }))
    assert.deepEqual([err.status, err.error], [400, 'DidNotFound'])
    const method = await clientFailure(pds.agent().com.atproto.identity.resolveDid({ did: 'did:example:123' }))
    assert.deepEqual([method.status, method.error], [400, 'InvalidRequest'])
  })

  test('resolveDid of a tombstoned DID', async () => {
    const s = services()
    const { did, op } = await createGenesisOp({
      signingKey: Secp256k1Keypair.create().did(),
      handle: 'gone.example.com',
      pdsEndpoint: 'https://elsewhere.example',
      rotationKey: s.plcRotationKey,
    })
    await s.plc.sendOperation(did, op)
    await s.plc.sendOperation(did, await tombstoneOp(op, s.plcRotationKey))
    const err = await clientFailure(pds.agent().com.atproto.identity.resolveDid({ did }))
    assert.equal(err.status, 400)
    assert.deepEqual([err.status, err.error], [400, 'DidDeactivated'])
    const identity = await clientFailure(pds.agent().com.atproto.identity.resolveIdentity({ identifier: did }))
    assert.equal(identity.error, 'DidDeactivated')
  })

  test('resolveIdentity from a DID or a handle, with the handle checked both ways', async () => {
    const byDid = await pds.agent().com.atproto.identity.resolveIdentity({ identifier: hana.did })
    assert.equal(byDid.data.did, hana.did)
    assert.equal(byDid.data.handle, hana.handle)
    assert.equal((byDid.data.didDoc as { id: string }).id, hana.did)
    const byHandle = await pds.agent().com.atproto.identity.resolveIdentity({ identifier: hana.handle.toUpperCase() })
    assert.equal(byHandle.data.did, hana.did)
    assert.equal(byHandle.data.handle, hana.handle)

    const unknown = await clientFailure(pds.agent().com.atproto.identity.resolveIdentity({ identifier: 'nobody-here.test' }))
    assert.deepEqual([unknown.status, unknown.error], [400, 'HandleNotFound'])
    const noDid = await clientFailure(pds.agent().com.atproto.identity.resolveIdentity({ identifier: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }))
    assert.deepEqual([noDid.status, noDid.error], [400, 'DidNotFound'])

    // A domain that points to hana, whose document does not claim it.
    wellKnownDids.set('fake-hana.example.com', hana.did)
    const fake = await clientFailure(pds.agent().com.atproto.identity.resolveIdentity({ identifier: 'fake-hana.example.com' }))
    assert.equal(fake.error, 'HandleNotFound')
  })

  test('a document claiming a handle that points elsewhere gets handle.invalid; refreshIdentity sees past the cache', async () => {
    const s = services()
    // Cache the current document, then change it behind the PDS's back.
    await pds.agent().com.atproto.identity.resolveDid({ did: hana.did })
    const lastOp = await s.plc.getLastOp(hana.did)
    await s.plc.sendOperation(hana.did, await updateOp(lastOp, s.plcRotationKey, { alsoKnownAs: ['at://impostor.example.com'] }))

    const cached = await pds.agent().com.atproto.identity.resolveIdentity({ identifier: hana.did })
    assert.equal(cached.data.handle, hana.handle, 'served from the cache')

    const anon = await clientFailure(pds.agent().com.atproto.identity.refreshIdentity({ identifier: hana.did }))
    assert.equal(anon.status, 401)
    const fresh = await hana.agent.com.atproto.identity.refreshIdentity({ identifier: hana.did })
    assert.equal(fresh.data.handle, 'handle.invalid')
    assert.deepEqual((fresh.data.didDoc as { alsoKnownAs: string[] }).alsoKnownAs, ['at://impostor.example.com'])
    const now = await pds.agent().com.atproto.identity.resolveIdentity({ identifier: hana.did })
    assert.equal(now.data.handle, 'handle.invalid', 'the cache was rewritten')
  })
})
