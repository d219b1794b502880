import assert from 'node:assert/strict'
import { test } from 'node:test'
import { toBase58Btc } from '@atcute/multibase'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { P256Keypair, Secp256k1Keypair } from '../../src/repo/crypto/index.ts'
import {
  didDocumentProblem,
  didKeyOfVerificationMethod,
  ensureAtprotoData,
  getHandle,
  getPdsEndpoint,
  getServiceEndpoint,
  getSigningKey,
  parseAtprotoData,
  validateDidDocument,
  type DidDocument,
} from '../../src/identity/did-doc.ts'
import { PoorlyFormattedDidDocumentError } from '../../src/identity/errors.ts'
import { formatPlcDidDocument } from '../../src/identity/plc-document.ts'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'

function doc(over: Partial<DidDocument> = {}): DidDocument {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: DID,
    alsoKnownAs: ['https://example.com/me', 'at://alice.example.com', 'at://second.example.com'],
    verificationMethod: [],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
    ...over,
  }
}

test('signing key from a Multikey method, relative or absolute id', () => {
  const key = Secp256k1Keypair.create()
  const multibase = key.did().slice('did:key:'.length)
  for (const id of ['#atproto', `${DID}#atproto`]) {
    const d = doc({ verificationMethod: [{ id, type: 'Multikey', controller: DID, publicKeyMultibase: multibase }] })
    assert.equal(getSigningKey(d), key.did(), id)
  }
  // Another DID's fragment is not this document's key.
  const foreign = doc({ verificationMethod: [{ id: 'did:plc:other#atproto', type: 'Multikey', controller: DID, publicKeyMultibase: multibase }] })
  assert.equal(getSigningKey(foreign), undefined)
  // Other key ids are reachable by name.
  const labeler = doc({ verificationMethod: [{ id: '#atproto_label', type: 'Multikey', controller: DID, publicKeyMultibase: multibase }] })
  assert.equal(getSigningKey(labeler), undefined)
  assert.equal(getSigningKey(labeler, 'atproto_label'), key.did())
})

test('signing key from the legacy 2019 suite types, compressed or not', () => {
  const k256 = Secp256k1Keypair.create()
  const compressed = k256.publicKeyBytes()
  const uncompressed = secp256k1.Point.fromBytes(compressed).toBytes(false)
  for (const bytes of [compressed, uncompressed]) {
    const vm = { type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: 'z' + toBase58Btc(bytes) }
    assert.equal(didKeyOfVerificationMethod(vm), k256.did())
  }
  const p256 = P256Keypair.create()
  assert.equal(
    didKeyOfVerificationMethod({ type: 'EcdsaSecp256r1VerificationKey2019', publicKeyMultibase: 'z' + toBase58Btc(p256.publicKeyBytes()) }),
    p256.did(),
  )
  // Base16 multibase is accepted as the official resolver does.
  assert.equal(
    didKeyOfVerificationMethod({ type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: 'f' + Buffer.from(compressed).toString('hex') }),
    k256.did(),
  )
  assert.equal(didKeyOfVerificationMethod({ type: 'JsonWebKey2020', publicKeyMultibase: 'z' + toBase58Btc(compressed) }), undefined)
  assert.equal(didKeyOfVerificationMethod({ type: 'Multikey', publicKeyMultibase: 'zNotAKey' }), undefined)
  assert.equal(didKeyOfVerificationMethod({ type: 'Multikey' }), undefined)
})

test('handle is the first at:// alias; PDS endpoint needs the right type and an http(s) URL', () => {
  assert.equal(getHandle(doc()), 'alice.example.com')
  assert.equal(getHandle(doc({ alsoKnownAs: ['https://x'] })), undefined)
  assert.equal(getHandle(doc({ alsoKnownAs: undefined })), undefined)
  assert.equal(getPdsEndpoint(doc()), 'https://pds.example.com')
  assert.equal(getPdsEndpoint(doc({ service: [{ id: `${DID}#atproto_pds`, type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://localhost:2583' }] })), 'http://localhost:2583')
  assert.equal(getPdsEndpoint(doc({ service: [{ id: '#atproto_pds', type: 'Other', serviceEndpoint: 'https://pds.example.com' }] })), undefined)
  assert.equal(getPdsEndpoint(doc({ service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'ftp://pds.example.com' }] })), undefined)
  assert.equal(getPdsEndpoint(doc({ service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://' }] })), undefined)
  assert.equal(getPdsEndpoint(doc({ service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: { uri: 'https://x' } }] })), undefined)
  const withLabeler = doc({ service: [...(doc().service ?? []), { id: '#atproto_labeler', type: 'AtprotoLabeler', serviceEndpoint: 'https://labels.example' }] })
  assert.equal(getServiceEndpoint(withLabeler, { id: 'atproto_labeler' }), 'https://labels.example')
  assert.equal(getServiceEndpoint(withLabeler, { id: '#atproto_labeler', type: 'AtprotoLabeler' }), 'https://labels.example')
  assert.equal(getServiceEndpoint(withLabeler, { id: '#bsky_chat' }), undefined)
})

test('ensureAtprotoData requires all three; parseAtprotoData reports what is there', () => {
  const key = Secp256k1Keypair.create()
  const full = doc({ verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: DID, publicKeyMultibase: key.did().slice(8) }] })
  assert.deepEqual(ensureAtprotoData(full), { did: DID, signingKey: key.did(), handle: 'alice.example.com', pds: 'https://pds.example.com' })
  assert.deepEqual(parseAtprotoData(doc()), { did: DID, signingKey: undefined, handle: 'alice.example.com', pds: 'https://pds.example.com' })
  assert.throws(() => ensureAtprotoData(doc()), PoorlyFormattedDidDocumentError)
  assert.throws(() => ensureAtprotoData({ ...full, alsoKnownAs: [] }), /handle/)
  assert.throws(() => ensureAtprotoData({ ...full, service: [] }), /atproto_pds/)
})

test('document validation: shape as the official schema, and the id must be the DID', () => {
  assert.equal(didDocumentProblem(doc()), null)
  assert.equal(didDocumentProblem({ id: DID }), null)
  assert.equal(didDocumentProblem({ id: DID, extra: { anything: 1 } }), null)
  assert.equal(didDocumentProblem({ id: DID, '@context': 'https://www.w3.org/ns/did/v1' }), null)
  assert.notEqual(didDocumentProblem({ id: DID, '@context': 'https://other' }), null)
  assert.notEqual(didDocumentProblem({ id: DID, '@context': ['not a url'] }), null)
  assert.notEqual(didDocumentProblem([]), null)
  assert.notEqual(didDocumentProblem({ id: 5 }), null)
  assert.notEqual(didDocumentProblem({ id: DID, alsoKnownAs: [1] }), null)
  assert.notEqual(didDocumentProblem({ id: DID, verificationMethod: [{ id: '#a', type: 'Multikey' }] }), null)
  assert.notEqual(didDocumentProblem({ id: DID, service: [{ id: '#a', type: 't', serviceEndpoint: 3 }] }), null)
  assert.equal(didDocumentProblem({ id: DID, authentication: ['#a', { id: '#b', type: 't', controller: DID }] }), null)
  assert.deepEqual(validateDidDocument(DID, doc()), doc())
  assert.throws(() => validateDidDocument('did:plc:someoneelse', doc()), PoorlyFormattedDidDocumentError)
  assert.throws(() => validateDidDocument(DID, { id: DID, service: 'x' }), PoorlyFormattedDidDocumentError)
})

test('formatPlcDidDocument: Multikey form, per-curve contexts, atproto data round trip', () => {
  const k256 = Secp256k1Keypair.create()
  const p256 = P256Keypair.create()
  const d = formatPlcDidDocument({
    did: DID,
    rotationKeys: [k256.did()],
    verificationMethods: { atproto: k256.did(), other: p256.did() },
    alsoKnownAs: ['at://alice.test'],
    services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example' } },
  })
  assert.deepEqual(d['@context'], [
    'https://www.w3.org/ns/did/v1',
    'https://w3id.org/security/multikey/v1',
    'https://w3id.org/security/suites/secp256k1-2019/v1',
    'https://w3id.org/security/suites/ecdsa-2019/v1',
  ])
  assert.equal(getSigningKey(d), k256.did())
  assert.equal(getSigningKey(d, 'other'), p256.did())
  assert.deepEqual(ensureAtprotoData(d), { did: DID, signingKey: k256.did(), handle: 'alice.test', pds: 'https://pds.example' })
  assert.equal(didDocumentProblem(d), null)
})
