import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as plcLib from '@did-plc/lib'
import { P256Keypair, Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import { DidTombstonedError } from '../../src/identity/errors.ts'
import {
  createGenesisOp,
  didForGenesisOp,
  documentDataForOp,
  genesisRotationKeys,
  isOperationOrTombstone,
  normalizeOp,
  opCid,
  operationSigner,
  plcSigner,
  tombstoneOp,
  updateHandleOp,
  updateOp,
  updatePdsEndpointOp,
  updateRotationKeysOp,
  updateSigningKeyOp,
} from '../../src/identity/plc-ops.ts'
import type { PlcAnyOp, PlcLegacyCreateOp } from '../../src/identity/plc-lib.ts'

const lib = plcLib as unknown as {
  getLastOpWithCid(ops: unknown[]): Promise<{ cid: { toString(): string } }>
  validateOperationLog(did: string, ops: unknown[]): Promise<unknown>
  createOp(opts: { signingKey: string; handle: string; pds: string; rotationKeys: string[]; signer: ReturnType<typeof plcSigner> }): Promise<{ did: string; op: unknown }>
  didForCreateOp(op: unknown): Promise<string>
}

function keys() {
  return { rotation: Secp256k1Keypair.create(), signing: Secp256k1Keypair.create(), recovery: Secp256k1Keypair.create() }
}

test('genesis op: PDS fields, rotation keys ordered recovery-first, signed by the rotation key, DID derived', async () => {
  const k = keys()
  const serverRecovery = P256Keypair.create().did()
  const { did, op } = await createGenesisOp({
    signingKey: k.signing.did(),
    handle: 'alice.test',
    pdsEndpoint: 'https://pds.example.com',
    rotationKey: k.rotation,
    recoveryKeys: [k.recovery.did(), serverRecovery],
  })
  assert.match(did, /^did:plc:[a-z2-7]{24}$/)
  assert.equal(op.type, 'plc_operation')
  assert.equal(op.prev, null)
  assert.deepEqual(op.rotationKeys, [k.recovery.did(), serverRecovery, k.rotation.did()])
  assert.deepEqual(op.verificationMethods, { atproto: k.signing.did() })
  assert.deepEqual(op.alsoKnownAs, ['at://alice.test'])
  assert.deepEqual(op.services, { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example.com' } })
  assert.equal(await didForGenesisOp(op), did)
  // The library's own log validation accepts it, and the PDS rotation key is the signer.
  assert.deepEqual(await lib.validateOperationLog(did, [op]), { did, ...documentDataForOp(did, op) })
  assert.equal(await operationSigner(op, op.rotationKeys), k.rotation.did())
  assert.equal(await operationSigner(op, [k.signing.did(), k.recovery.did()]), null)
  assert.ok(isOperationOrTombstone(op))
  assert.equal(isOperationOrTombstone({ ...op, rotationKeys: 'nope' }), false)
})

test('the genesis op Hearth builds is the one @did-plc/lib builds, byte for byte, and the same DID', async () => {
  const k = keys()
  for (const [handle, pds] of [['alice.test', 'https://pds.example.com'], ['at://bob.test', 'http://localhost:2583'], ['https://carol.test', 'pds.example']] as const) {
    const ours = await createGenesisOp({ signingKey: k.signing.did(), handle, pdsEndpoint: pds, rotationKey: k.rotation, recoveryKeys: [k.recovery.did()] })
    // secp256k1 signatures are deterministic (RFC 6979), so the two ops are equal only if the signed bytes are.
    const theirs = await lib.createOp({ signingKey: k.signing.did(), handle, pds, rotationKeys: [k.recovery.did(), k.rotation.did()], signer: plcSigner(k.rotation) })
    assert.deepEqual(ours, theirs)
  }
  const legacy: PlcLegacyCreateOp = { type: 'create', signingKey: k.signing.did(), recoveryKey: k.recovery.did(), handle: 'old.test', service: 'pds.example', prev: null, sig: 'x' }
  assert.equal(await didForGenesisOp(legacy), await lib.didForCreateOp(legacy))
})

test('creating a genesis op does not load @did-plc/lib', () => {
  const script = `
    import { createRequire } from 'node:module'
    import { createGenesisOp } from './src/identity/plc-ops.ts'
    import { Secp256k1Keypair } from './src/repo/crypto/index.ts'
    const key = Secp256k1Keypair.create()
    const { did } = await createGenesisOp({ signingKey: key.did(), handle: 'a.test', pdsEndpoint: 'https://p.example', rotationKey: key })
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('@did-plc'))
    console.log(JSON.stringify({ did, loaded }))`
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../../', import.meta.url)) })
  const { did, loaded } = JSON.parse(out.toString()) as { did: string; loaded: string[] }
  assert.match(did, /^did:plc:[a-z2-7]{24}$/)
  assert.deepEqual(loaded, [])
})

test('genesisRotationKeys puts the PDS key last', () => {
  assert.deepEqual(genesisRotationKeys('did:key:pds'), ['did:key:pds'])
  assert.deepEqual(genesisRotationKeys('did:key:pds', ['did:key:user', 'did:key:op']), ['did:key:user', 'did:key:op', 'did:key:pds'])
})

test('plcSigner adapts a Hearth keypair to the library signer', async () => {
  const key = Secp256k1Keypair.create()
  const signer = plcSigner(key)
  assert.equal(signer.did(), key.did())
  assert.equal(signer.jwtAlg, 'ES256K')
  const msg = new TextEncoder().encode('hello')
  assert.deepEqual(await signer.sign(msg), key.sign(msg))
})

test('opCid agrees with the library CID of an operation', async () => {
  const k = keys()
  const { op } = await createGenesisOp({ signingKey: k.signing.did(), handle: 'a.test', pdsEndpoint: 'https://p.example', rotationKey: k.rotation })
  const { cid } = await lib.getLastOpWithCid([op])
  assert.equal(opCid(op), cid.toString())
  assert.match(opCid(op), /^bafyrei/)
})

test('updates build on the last op: prev is its CID, only the named fields change, the log stays valid', async () => {
  const k = keys()
  const { did, op: genesis } = await createGenesisOp({
    signingKey: k.signing.did(),
    handle: 'alice.test',
    pdsEndpoint: 'https://pds.example.com',
    rotationKey: k.rotation,
  })
  const op1 = await updateHandleOp(genesis, k.rotation, 'bob.test')
  assert.equal(op1.prev, opCid(genesis))
  assert.deepEqual(op1.alsoKnownAs, ['at://bob.test'])
  assert.deepEqual(op1.rotationKeys, genesis.rotationKeys)
  assert.deepEqual(op1.services, genesis.services)

  const newSigning = Secp256k1Keypair.create().did()
  const op2 = await updateSigningKeyOp(op1, k.rotation, newSigning)
  assert.equal(op2.verificationMethods.atproto, newSigning)
  assert.deepEqual(op2.alsoKnownAs, ['at://bob.test'])

  const op3 = await updatePdsEndpointOp(op2, k.rotation, 'https://other.example')
  assert.equal(op3.services.atproto_pds.endpoint, 'https://other.example')

  const op4 = await updateRotationKeysOp(op3, k.rotation, [k.recovery.did(), k.rotation.did()])
  assert.deepEqual(op4.rotationKeys, [k.recovery.did(), k.rotation.did()])

  const op5 = await updateOp(op4, k.recovery, {
    alsoKnownAs: ['at://carol.test', 'https://carol.example'],
    services: { ...op4.services, atproto_labeler: { type: 'AtprotoLabeler', endpoint: 'https://labels.example' } },
  })
  assert.deepEqual(op5.alsoKnownAs, ['at://carol.test', 'https://carol.example'])
  assert.equal(op5.services.atproto_labeler.endpoint, 'https://labels.example')
  assert.deepEqual(op5.rotationKeys, op4.rotationKeys)
  assert.equal(await operationSigner(op5, op4.rotationKeys), k.recovery.did())

  // The handle update replaces the at:// alias in place and keeps the others.
  const op6 = await updateHandleOp(op5, k.rotation, 'dave.test')
  assert.deepEqual(op6.alsoKnownAs, ['at://dave.test', 'https://carol.example'])

  const data = await lib.validateOperationLog(did, [genesis, op1, op2, op3, op4, op5, op6])
  assert.deepEqual(data, documentDataForOp(did, op6))

  const tomb = await tombstoneOp(op6, k.rotation)
  assert.equal(tomb.type, 'plc_tombstone')
  assert.equal(tomb.prev, opCid(op6))
  assert.equal(await lib.validateOperationLog(did, [genesis, op1, op2, op3, op4, op5, op6, tomb]), null)
  assert.equal(documentDataForOp(did, tomb), null)
  await assert.rejects(updateHandleOp(tomb, k.rotation, 'x.test'), DidTombstonedError)
  await assert.rejects(updateOp(tomb, k.rotation, {}), DidTombstonedError)
  await assert.rejects(tombstoneOp(tomb, k.rotation), DidTombstonedError)
})

test('an update signed by a key that is not a rotation key does not validate', async () => {
  const k = keys()
  const { did, op: genesis } = await createGenesisOp({ signingKey: k.signing.did(), handle: 'a.test', pdsEndpoint: 'https://p.example', rotationKey: k.rotation })
  const bad = await updateHandleOp(genesis, k.signing, 'b.test')
  await assert.rejects(lib.validateOperationLog(did, [genesis, bad]), /Invalid signature/)
})

test('legacy create ops are normalized to plc_operation', async () => {
  const legacy: PlcLegacyCreateOp = {
    type: 'create',
    signingKey: 'did:key:zQ3shXzUpFmYgBTrKuTXwkNEXR4CvmgGJ2KJYLgUyvPpF94LS',
    recoveryKey: 'did:key:zQ3shMpevJkmH4PU7YfkCU1VL5GjbWd3VowChRXQAw1Lcdc2E',
    handle: 'old.test',
    service: 'pds.example',
    prev: null,
    sig: 'x',
  }
  const n = normalizeOp(legacy)
  assert.deepEqual(n.rotationKeys, [legacy.recoveryKey, legacy.signingKey])
  assert.deepEqual(n.alsoKnownAs, ['at://old.test'])
  assert.equal(n.services.atproto_pds.endpoint, 'https://pds.example')
  const data = documentDataForOp('did:plc:x', legacy as PlcAnyOp)
  assert.equal(data?.verificationMethods.atproto, legacy.signingKey)
})
