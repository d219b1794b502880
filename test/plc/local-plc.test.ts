// The embedded PLC directory: the same flows as against plc.directory, persistence across
// restarts, refusals with the reference server's statuses and messages (checked side by side
// with @did-plc/server), and the clients the official PDS uses (@did-plc/lib's Client,
// @atproto/identity's DidResolver) talking to it.
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import * as plcLib from '@did-plc/lib'
import { DidResolver as AtprotoDidResolver } from '@atproto/identity'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { DidCache } from '../../src/identity/did-cache.ts'
import { ensureAtprotoData, validateDidDocument } from '../../src/identity/did-doc.ts'
import { DidResolver } from '../../src/identity/did-resolver.ts'
import { DidNotFoundError, PlcRequestError } from '../../src/identity/errors.ts'
import { PlcClient } from '../../src/identity/plc-client.ts'
import {
  createGenesisOp,
  opCid,
  tombstoneOp,
  updateHandleOp,
  updateOp,
  updateRotationKeysOp,
  type PlcAnyOp,
  type PlcOperation,
} from '../../src/identity/plc-ops.ts'
import { createLocalPlc, isPlcDidPath, type LocalPlc } from '../../src/plc/index.ts'
import { startReferencePlc, startServer, tempDir, type TestServer } from '../identity/helpers.ts'

interface Running {
  plc: LocalPlc
  server: TestServer
  /** The directory URL under its `/plc` prefix. */
  url: string
}

async function startLocal(dbPath: string): Promise<Running> {
  const plc = createLocalPlc({ dbPath })
  const route = plc.route('/plc', { rootDidPaths: true })
  const server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    if (!route(req, res)) res.writeHead(418).end('not the directory')
  })
  return { plc, server, url: `${server.url}/plc` }
}

async function stop(r: Running): Promise<void> {
  await r.server.close()
  r.plc.close()
}

let tmp: { dir: string; cleanup(): void }
let ref: { url: string; close(): Promise<void> }
before(async () => {
  tmp = tempDir('hearth-local-plc-')
  ref = await startReferencePlc()
})
after(async () => {
  await ref.close()
  tmp.cleanup()
})

let dbCounter = 0
const freshDb = () => join(tmp.dir, `plc-${++dbCounter}.sqlite`)

async function newAccount(handle: string, recoveryKeys: string[] = []) {
  const rotation = Secp256k1Keypair.create()
  const signing = Secp256k1Keypair.create()
  const { did, op } = await createGenesisOp({ signingKey: signing.did(), handle, pdsEndpoint: 'http://localhost:2583', rotationKey: rotation, recoveryKeys })
  return { rotation, signing, did, op }
}

async function post(url: string, did: string, body: string, contentType = 'application/json') {
  const res = await fetch(`${url}/${encodeURIComponent(did)}`, { method: 'POST', body, headers: { 'content-type': contentType } })
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}

test('genesis, resolve, handle update, resolve after invalidate — then a restart keeps everything', async () => {
  const dbPath = freshDb()
  let local = await startLocal(dbPath)
  const cache = DidCache.open(join(tmp.dir, `cache-${dbCounter}.sqlite`))
  try {
    const client = new PlcClient({ url: local.url })
    const a = await newAccount('alice.test')
    await client.sendOperation(a.did, a.op)

    const resolver = new DidResolver({ plc: local.url, cache })
    assert.deepEqual(await resolver.resolveAtprotoData(a.did), {
      did: a.did,
      signingKey: a.signing.did(),
      handle: 'alice.test',
      pds: 'http://localhost:2583',
    })
    const update = await updateHandleOp(await client.getLastOp(a.did), a.rotation, 'alice2.test')
    await client.sendOperation(a.did, update)
    assert.equal((await resolver.resolveAtprotoData(a.did)).handle, 'alice.test') // cached
    resolver.invalidate(a.did)
    assert.equal((await resolver.resolveAtprotoData(a.did)).handle, 'alice2.test')

    const docBefore = await client.getDocument(a.did)
    const auditBefore = await client.getAuditLog(a.did)
    assert.deepEqual(
      auditBefore.map((e) => e.cid),
      [opCid(a.op), opCid(update)],
    )

    await stop(local)
    local = await startLocal(dbPath)
    const client2 = new PlcClient({ url: local.url })
    assert.deepEqual(await client2.getDocument(a.did), docBefore)
    assert.deepEqual(await client2.getAuditLog(a.did), auditBefore)
    assert.deepEqual(await client2.getOperationLog(a.did), [a.op, update])
    // And the history continues where it stopped.
    const update2 = await updateHandleOp(await client2.getLastOp(a.did), a.rotation, 'alice3.test')
    await client2.sendOperation(a.did, update2)
    assert.deepEqual((await client2.getDocumentData(a.did)).alsoKnownAs, ['at://alice3.test'])
  } finally {
    cache.close()
    await stop(local)
  }
})

test('the DID document is the current plc.directory form and carries the same atproto data', async () => {
  const local = await startLocal(freshDb())
  try {
    const a = await newAccount('doc.test')
    await new PlcClient({ url: local.url }).sendOperation(a.did, a.op)
    await new PlcClient({ url: ref.url }).sendOperation(a.did, a.op)
    const res = await fetch(`${local.url}/${a.did}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/did+ld+json; charset=utf-8')
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const doc = validateDidDocument(a.did, await res.json())
    assert.deepEqual(doc['@context'], [
      'https://www.w3.org/ns/did/v1',
      'https://w3id.org/security/multikey/v1',
      'https://w3id.org/security/suites/secp256k1-2019/v1',
    ])
    assert.deepEqual(doc.verificationMethod, [
      { id: `${a.did}#atproto`, type: 'Multikey', controller: a.did, publicKeyMultibase: a.signing.did().slice('did:key:'.length) },
    ])
    assert.deepEqual(doc.service, [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://localhost:2583' }])
    // The reference server formats the older 2019-suite form; the data inside is the same.
    const refDoc = validateDidDocument(a.did, await new PlcClient({ url: ref.url }).getDocument(a.did))
    assert.deepEqual(ensureAtprotoData(doc), ensureAtprotoData(refDoc))
  } finally {
    await stop(local)
  }
})

test('the same operations give the same answers as the reference directory', async () => {
  const local = await startLocal(freshDb())
  try {
    const recovery = Secp256k1Keypair.create()
    const a = await newAccount('same.test', [recovery.did()])
    const ops: PlcAnyOp[] = [a.op]
    ops.push(await updateHandleOp(a.op, a.rotation, 'same2.test'))
    ops.push(await updateRotationKeysOp(ops[1], recovery, [recovery.did(), a.rotation.did(), Secp256k1Keypair.create().did()]))
    for (const url of [local.url, ref.url]) {
      for (const op of ops) await new PlcClient({ url }).sendOperation(a.did, op as PlcOperation)
    }
    for (const path of ['/data', '/log', '/log/last']) {
      const [mine, theirs] = await Promise.all([local.url, ref.url].map((u) => fetch(`${u}/${a.did}${path}`).then(async (r) => [r.status, await r.json()])))
      assert.deepEqual(mine, theirs, path)
    }
    const [mine, theirs] = await Promise.all([local.url, ref.url].map((u) => new PlcClient({ url: u }).getAuditLog(a.did)))
    assert.deepEqual(
      mine.map(({ createdAt: _, ...rest }) => rest),
      theirs.map(({ createdAt: _, ...rest }) => rest),
    )
    assert.ok(mine.every((e) => !Number.isNaN(Date.parse(e.createdAt))))
  } finally {
    await stop(local)
  }
})

test('invalid operations are refused with the reference server status and message', async () => {
  const local = await startLocal(freshDb())
  try {
    const a = await newAccount('refuse.test')
    const other = await newAccount('other.test')
    for (const url of [local.url, ref.url]) await new PlcClient({ url }).sendOperation(a.did, a.op)

    const cases: Array<[string, string, unknown]> = [
      ['bad signature', a.did, { ...(await updateHandleOp(a.op, a.rotation, 'x.test')), sig: a.op.sig }],
      ['wrong prev', a.did, await updateHandleOp(other.op, a.rotation, 'x.test')],
      ['signed by the repo signing key, not a rotation key', a.did, await updateHandleOp(a.op, a.signing, 'x.test')],
      ['genesis for another DID', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', other.op],
      ['a second genesis', a.did, a.op],
      ['not an operation', a.did, { type: 'plc_operation', rotationKeys: [] }],
    ]
    for (const [name, did, op] of cases) {
      const [mine, theirs] = await Promise.all([local.url, ref.url].map((u) => post(u, did, JSON.stringify(op))))
      assert.equal(mine.status, 400, name)
      assert.equal(mine.status, theirs.status, name)
      assert.equal(mine.type, 'application/json; charset=utf-8', name)
      assert.deepEqual(JSON.parse(mine.body), JSON.parse(theirs.body), name)
    }
    // Nothing of that reached the log.
    assert.deepEqual(await new PlcClient({ url: local.url }).getOperationLog(a.did), [a.op])

    // And through the client, a refusal is PlcRequestError.
    await assert.rejects(
      new PlcClient({ url: local.url }).sendOperation(a.did, await updateHandleOp(a.op, a.signing, 'x.test')),
      (e: unknown) => e instanceof PlcRequestError && e.status === 400 && /Invalid signature/.test(e.message),
    )
    // The in-process interface refuses the same way.
    await assert.rejects(local.plc.directory.sendOperation(a.did, await updateHandleOp(a.op, a.signing, 'x.test')), PlcRequestError)
  } finally {
    await stop(local)
  }
})

test('reference constraints: size, field counts, bodies', async () => {
  const local = await startLocal(freshDb())
  try {
    const a = await newAccount('limits.test')
    const tooManyAka = { ...a.op, alsoKnownAs: Array.from({ length: 11 }, (_, i) => `at://h${i}.test`) }
    let r = await post(local.url, a.did, JSON.stringify(tooManyAka))
    assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message: 'To many alsoKnownAs items (max 10)' }])
    const dupAka = { ...a.op, alsoKnownAs: ['at://x.test', 'at://x.test'] }
    r = await post(local.url, a.did, JSON.stringify(dupAka))
    assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message: 'duplicate alsoKnownAs field: at://x.test' }])
    const huge = { ...a.op, alsoKnownAs: ['at://' + 'a'.repeat(250), 'https://' + 'b'.repeat(240)], services: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`s${i}`, { type: 't', endpoint: 'https://' + 'e'.repeat(400) }])) }
    r = await post(local.url, a.did, JSON.stringify(huge))
    assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message: 'Operation too large' }])
    const badKey = { ...a.op, rotationKeys: ['did:key:nope'] }
    r = await post(local.url, a.did, JSON.stringify(badKey))
    assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message: 'Invalid rotationKey: did:key:nope' }])
    r = await post(local.url, a.did, '{not json')
    assert.equal(r.status, 400)
    assert.equal(typeof JSON.parse(r.body).message, 'string')
    // Not declared JSON: read as `{}`, as express.json does.
    r = await post(local.url, a.did, JSON.stringify(a.op), 'text/plain')
    assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message: 'Not a valid operation: {}' }])
    r = await post(local.url, a.did, 'x'.repeat(101 * 1024))
    assert.deepEqual([r.status, JSON.parse(r.body)], [413, { message: 'request entity too large' }])
    // A valid one still goes through, and says OK.
    r = await post(local.url, a.did, JSON.stringify(a.op))
    assert.deepEqual([r.status, r.body, r.type], [200, 'OK', 'text/plain; charset=utf-8'])
  } finally {
    await stop(local)
  }
})

test('unknown and tombstoned DIDs: 404 with the reference messages; the log still answers', async () => {
  const local = await startLocal(freshDb())
  try {
    const unknown = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    for (const path of ['', '/data', '/log', '/log/audit', '/log/last']) {
      const res = await fetch(`${local.url}/${unknown}${path}`)
      assert.equal(res.status, 404, path)
      assert.deepEqual(await res.json(), { message: `DID not registered: ${unknown}` }, path)
    }
    const a = await newAccount('gone.test')
    const client = new PlcClient({ url: local.url })
    await client.sendOperation(a.did, a.op)
    const tomb = await tombstoneOp(a.op, a.rotation)
    await client.sendOperation(a.did, tomb)
    for (const path of ['', '/data']) {
      const res = await fetch(`${local.url}/${a.did}${path}`)
      assert.equal(res.status, 404)
      assert.deepEqual(await res.json(), { message: `DID not available: ${a.did}` })
    }
    assert.deepEqual(await client.getLastOp(a.did), tomb)
    assert.deepEqual(await client.getOperationLog(a.did), [a.op, tomb])
    await assert.rejects(client.getDocument(a.did), DidNotFoundError)
    // Nothing can follow a tombstone.
    const after = await post(local.url, a.did, JSON.stringify(await updateHandleOp(a.op, a.rotation, 'back.test')))
    assert.equal(after.status, 400)
    // Other paths under the prefix are not the directory's.
    assert.equal((await fetch(`${local.url}/${a.did}/nope`)).status, 404)
    assert.equal((await fetch(`${local.url}/`)).status, 404)
  } finally {
    await stop(local)
  }
})

test('nullification: a higher rotation key rewrites history within 72 h; a lower one cannot', async () => {
  const local = await startLocal(freshDb())
  try {
    const recovery = Secp256k1Keypair.create()
    const a = await newAccount('fork.test', [recovery.did()])
    const client = new PlcClient({ url: local.url })
    await client.sendOperation(a.did, a.op)
    // The PDS key (lower authority) moves the handle...
    const hijack = await updateHandleOp(a.op, a.rotation, 'hijacked.test')
    await client.sendOperation(a.did, hijack)
    // ...the PDS key cannot fork its own op away...
    const sameKeyFork = await updateHandleOp(a.op, a.rotation, 'other.test')
    await assert.rejects(client.sendOperation(a.did, sameKeyFork), PlcRequestError)
    // ...but the recovery key (listed first) can, nullifying it.
    const recover = await updateOp(a.op, recovery, { rotationKeys: [recovery.did()] })
    await client.sendOperation(a.did, recover)
    assert.deepEqual(await client.getOperationLog(a.did), [a.op, recover])
    const audit = await client.getAuditLog(a.did)
    assert.deepEqual(
      audit.map((e) => [e.cid, e.nullified]),
      [
        [opCid(a.op), false],
        [opCid(hijack), true],
        [opCid(recover), false],
      ],
    )
    assert.deepEqual((await client.getDocumentData(a.did)).rotationKeys, [recovery.did()])
  } finally {
    await stop(local)
  }
})

test('concurrent updates on the same prev: one wins, the other is refused', async () => {
  const local = await startLocal(freshDb())
  try {
    const a = await newAccount('race.test')
    const client = new PlcClient({ url: local.url })
    await client.sendOperation(a.did, a.op)
    const ops = await Promise.all(['r1.test', 'r2.test', 'r3.test'].map((h) => updateHandleOp(a.op, a.rotation, h)))
    const results = await Promise.allSettled(ops.map((op) => client.sendOperation(a.did, op)))
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof PlcRequestError))
    assert.equal((await client.getOperationLog(a.did)).length, 2)
  } finally {
    await stop(local)
  }
})

test('@did-plc/lib Client (what the official PDS uses) works against the prefixed directory', async () => {
  const local = await startLocal(freshDb())
  try {
    const Client = (plcLib as unknown as { Client: new (url: string) => LibClient }).Client
    interface LibClient {
      createDid(opts: { signingKey: string; handle: string; pds: string; rotationKeys: string[]; signer: unknown }): Promise<string>
      getDocumentData(did: string): Promise<{ alsoKnownAs: string[] }>
      updateHandle(did: string, signer: unknown, handle: string): Promise<void>
      getLastOp(did: string): Promise<PlcAnyOp>
    }
    const client = new Client(local.url)
    const rotation = Secp256k1Keypair.create()
    const signer = { did: () => rotation.did(), sign: async (m: Uint8Array) => rotation.sign(m) }
    const did = await client.createDid({ signingKey: Secp256k1Keypair.create().did(), handle: 'lib.test', pds: 'http://localhost:2583', rotationKeys: [rotation.did()], signer })
    assert.deepEqual((await client.getDocumentData(did)).alsoKnownAs, ['at://lib.test'])
    await client.updateHandle(did, signer, 'lib2.test')
    assert.deepEqual((await client.getDocumentData(did)).alsoKnownAs, ['at://lib2.test'])
    assert.deepEqual((await new PlcClient({ url: local.url }).getLastOp(did)), await client.getLastOp(did))
  } finally {
    await stop(local)
  }
})

test('@atproto/identity resolves the same document through the root DID paths', async () => {
  const local = await startLocal(freshDb())
  try {
    const a = await newAccount('official.test')
    await new PlcClient({ url: local.url }).sendOperation(a.did, a.op)
    // It resolves `/<did>` against the directory URL, dropping any prefix: root DID paths serve it.
    const official = new AtprotoDidResolver({ plcUrl: local.server.url, timeout: 2000 })
    const theirs = await official.resolve(a.did)
    const ours = await new DidResolver({ plc: local.url }).resolve(a.did)
    assert.deepEqual(theirs, ours)
    const data = await official.resolveAtprotoData(a.did)
    assert.deepEqual(data, { did: a.did, signingKey: a.signing.did(), handle: 'official.test', pds: 'http://localhost:2583' })
    assert.equal(await official.resolve('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'), null)
  } finally {
    await stop(local)
  }
})

test('route(): prefix and root DID paths only; in-process reads; health and export', async () => {
  assert.ok(isPlcDidPath('/did:plc:abc'))
  assert.ok(isPlcDidPath('/did%3Aplc%3Aabc/log'))
  assert.equal(isPlcDidPath('/did:web:abc'), false)
  assert.equal(isPlcDidPath('/xrpc/com.atproto.server.describeServer'), false)

  const local = await startLocal(freshDb())
  try {
    assert.equal((await fetch(`${local.server.url}/xrpc/x`)).status, 418)
    assert.equal((await fetch(`${local.server.url}/plcx`)).status, 418)
    const health = await fetch(`${local.url}/_health`)
    assert.equal(health.status, 200)
    assert.equal(typeof ((await health.json()) as { version: unknown }).version, 'string')

    const a = await newAccount('export.test')
    const b = await newAccount('export2.test')
    await local.plc.directory.sendOperation(a.did, a.op)
    await local.plc.directory.sendOperation(b.did, b.op)
    assert.deepEqual(await local.plc.directory.getLastOp(b.did), b.op)
    await assert.rejects(local.plc.directory.getDocument('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'), DidNotFoundError)

    const exp = await fetch(`${local.url}/export?count=1`)
    assert.equal(exp.headers.get('content-type'), 'application/jsonlines')
    const lines = (await exp.text()).split('\n').map((l) => JSON.parse(l) as { did: string })
    assert.deepEqual(lines.map((l) => l.did), [a.did])
    const all = (await (await fetch(`${local.url}/export`)).text()).split('\n')
    assert.equal(all.length, 2)
    assert.equal((await fetch(`${local.url}/export?count=0`)).status, 400)

    const preflight = await fetch(`${local.url}/${a.did}`, { method: 'OPTIONS', headers: { 'access-control-request-headers': 'content-type' } })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*')
  } finally {
    await stop(local)
  }
})
