// The PLC client and the DID resolver against the reference directory (@did-plc/server, in memory).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { DidCache } from '../../src/identity/did-cache.ts'
import { ensureAtprotoData } from '../../src/identity/did-doc.ts'
import { DidResolver } from '../../src/identity/did-resolver.ts'
import { DidNotFoundError, DidResolutionError, PlcRequestError, PlcUnavailableError } from '../../src/identity/errors.ts'
import { PlcClient } from '../../src/identity/plc-client.ts'
import { createGenesisOp, opCid, tombstoneOp, updateHandleOp } from '../../src/identity/plc-ops.ts'
import { startReferencePlc, startServer, tempDir } from './helpers.ts'

let plc: { url: string; close(): Promise<void> }
before(async () => {
  plc = await startReferencePlc()
})
after(async () => {
  await plc.close()
})

async function newAccount(handle: string) {
  const rotation = Secp256k1Keypair.create()
  const signing = Secp256k1Keypair.create()
  const { did, op } = await createGenesisOp({ signingKey: signing.did(), handle, pdsEndpoint: 'https://pds.example.com', rotationKey: rotation })
  return { rotation, signing, did, op }
}

test('create, resolve, update the handle, resolve again after invalidate', async () => {
  const tmp = tempDir('hearth-plc-client-')
  const cache = DidCache.open(`${tmp.dir}/did_cache.sqlite`)
  try {
    const client = new PlcClient({ url: plc.url })
    const a = await newAccount('alice.test')
    await client.sendOperation(a.did, a.op)

    assert.deepEqual(await client.getLastOp(a.did), a.op)
    assert.deepEqual(await client.getOperationLog(a.did), [a.op])
    const data = await client.getDocumentData(a.did)
    assert.deepEqual(data.alsoKnownAs, ['at://alice.test'])
    assert.deepEqual(data.rotationKeys, [a.rotation.did()])
    const audit = await client.getAuditLog(a.did)
    assert.equal(audit.length, 1)
    assert.equal(audit[0].cid, opCid(a.op))
    assert.equal(audit[0].nullified, false)

    const resolver = new DidResolver({ plc: plc.url, cache })
    const before = await resolver.resolveAtprotoData(a.did)
    assert.deepEqual(before, { did: a.did, signingKey: a.signing.did(), handle: 'alice.test', pds: 'https://pds.example.com' })
    assert.equal(await resolver.resolveAtprotoKey(a.did), a.signing.did())

    const update = await updateHandleOp(await client.getLastOp(a.did), a.rotation, 'alice2.test')
    await client.sendOperation(a.did, update)
    // Served from the cache until told otherwise.
    assert.equal((await resolver.resolveAtprotoData(a.did)).handle, 'alice.test')
    resolver.invalidate(a.did)
    assert.equal((await resolver.resolveAtprotoData(a.did)).handle, 'alice2.test')
    assert.equal(ensureAtprotoData((await client.getDocument(a.did)) as never).handle, 'alice2.test')

    // refresh() rewrites the cache entry in one step.
    const update2 = await updateHandleOp(update, a.rotation, 'alice3.test')
    await client.sendOperation(a.did, update2)
    assert.equal((await resolver.resolveAtprotoData(a.did)).handle, 'alice2.test')
    const refreshed = await resolver.refresh(a.did)
    assert.deepEqual(refreshed?.alsoKnownAs, ['at://alice3.test'])
    assert.equal((await resolver.resolveAtprotoData(a.did)).handle, 'alice3.test')

    // A tombstoned DID is "not found" to the client and the resolver.
    await client.sendOperation(a.did, await tombstoneOp(update2, a.rotation))
    await assert.rejects(client.getDocument(a.did), DidNotFoundError)
    assert.equal((await client.getLastOp(a.did)).type, 'plc_tombstone')
    assert.equal(await resolver.refresh(a.did), null)
    assert.equal(cache.check(a.did), null)
  } finally {
    cache.close()
    tmp.cleanup()
  }
})

test('an unknown DID is DidNotFoundError (client) and null (resolver)', async () => {
  const client = new PlcClient({ url: plc.url })
  const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const err = await client.getDocument(did).catch((e: unknown) => e)
  assert.ok(err instanceof DidNotFoundError)
  assert.equal(err.did, did)
  assert.match(err.message, /DID not registered/)
  await assert.rejects(client.getLastOp(did), DidNotFoundError)
  await assert.rejects(client.getAuditLog(did), DidNotFoundError)
  assert.equal(await new DidResolver({ plc: client }).resolve(did), null)
  await assert.rejects(new DidResolver({ plc: client }).ensureResolve(did), DidNotFoundError)
})

test('a refused operation is PlcRequestError with the directory message', async () => {
  const client = new PlcClient({ url: plc.url })
  const a = await newAccount('bad.test')
  const forged = { ...a.op, sig: a.op.sig.slice(0, -4) + 'AAAA' }
  const err = await client.sendOperation(a.did, forged).catch((e: unknown) => e)
  assert.ok(err instanceof PlcRequestError)
  assert.equal(err.status, 400)
  assert.match(err.message, /Invalid signature/)
})

test('a directory that fails is PlcUnavailableError; GETs are retried once, POSTs never', async () => {
  let hits = 0
  const failing = await startServer((req, res) => {
    hits++
    res.writeHead(503, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ message: 'down for maintenance' }))
  })
  try {
    const client = new PlcClient({ url: failing.url })
    const err = await client.getDocument('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa').catch((e: unknown) => e)
    assert.ok(err instanceof PlcUnavailableError)
    assert.equal(err.status, 503)
    assert.match(err.message, /down for maintenance/)
    assert.equal(hits, 2)
    hits = 0
    const a = await newAccount('x.test')
    await assert.rejects(client.sendOperation(a.did, a.op), PlcUnavailableError)
    assert.equal(hits, 1)
    // The resolver reports an outage as a failure, not as "no such DID".
    await assert.rejects(new DidResolver({ plc: client }).resolve(a.did), (e: unknown) => e instanceof DidResolutionError && e.cause instanceof PlcUnavailableError)
  } finally {
    await failing.close()
  }
})

test('a transient failure is retried and then succeeds', async () => {
  let hits = 0
  const flaky = await startServer((req, res) => {
    hits++
    if (hits === 1) {
      res.writeHead(502).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'plc_tombstone', prev: 'x', sig: 'y' }))
  })
  try {
    const op = await new PlcClient({ url: flaky.url }).getLastOp('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')
    assert.equal(op.type, 'plc_tombstone')
    assert.equal(hits, 2)
  } finally {
    await flaky.close()
  }
})

test('unreachable and slow directories fail within the deadline', async () => {
  const closed = await startServer(() => {})
  const deadUrl = closed.url
  await closed.close()
  await assert.rejects(new PlcClient({ url: deadUrl }).getDocument('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'), PlcUnavailableError)

  let hits = 0
  const slow = await startServer(() => {
    hits++ // never answers
  })
  try {
    const started = Date.now()
    const err = await new PlcClient({ url: slow.url, timeoutMs: 200 }).getDocument('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa').catch((e: unknown) => e)
    assert.ok(err instanceof PlcUnavailableError)
    assert.match(err.message, /timed out after 200 ms/)
    assert.ok(Date.now() - started < 1500)
    assert.equal(hits, 1, 'a timeout is not retried')
  } finally {
    await slow.close()
  }
})

test('the client keeps a path prefix in the directory URL', async () => {
  const seen: string[] = []
  const server = await startServer((req, res) => {
    seen.push(req.url ?? '')
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'DID not registered: x' }))
  })
  try {
    await assert.rejects(new PlcClient({ url: `${server.url}/plc/` }).getDocumentData('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'), DidNotFoundError)
    assert.deepEqual(seen, ['/plc/did%3Aplc%3Aaaaaaaaaaaaaaaaaaaaaaaaa/data'])
  } finally {
    await server.close()
  }
})
