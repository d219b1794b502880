// The DID document a PLC directory serves for a DID's current state, in the form plc.directory
// serves today: `Multikey` verification methods with absolute ids (`did:plc:…#atproto`) and the
// Multikey context. @did-plc/lib 0.0.4 still formats the older 2019-suite form; both are read by
// every atproto resolver (see did-doc.ts), but clients and tests comparing against production see
// this one.
import { parseDidKey } from '../repo/crypto/index.ts'
import type { DidDocument, DidService, VerificationMethod } from './did-doc.ts'
import type { PlcDocumentData } from './plc-lib.ts'

const DID_CONTEXT = 'https://www.w3.org/ns/did/v1'
const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1'
const SUITE_CONTEXT = {
  ES256K: 'https://w3id.org/security/suites/secp256k1-2019/v1',
  ES256: 'https://w3id.org/security/suites/ecdsa-2019/v1',
} as const

/** Formats a DID's document data; throws on a key that is not a secp256k1 or P-256 did:key. */
export function formatPlcDidDocument(data: PlcDocumentData): DidDocument {
  const context: string[] = [DID_CONTEXT, MULTIKEY_CONTEXT]
  const verificationMethod: VerificationMethod[] = []
  for (const [keyId, didKey] of Object.entries(data.verificationMethods)) {
    const { jwtAlg } = parseDidKey(didKey)
    const suite = SUITE_CONTEXT[jwtAlg]
    if (!context.includes(suite)) context.push(suite)
    verificationMethod.push({
      id: `${data.did}#${keyId}`,
      type: 'Multikey',
      controller: data.did,
      publicKeyMultibase: didKey.slice('did:key:'.length),
    })
  }
  const service: DidService[] = Object.entries(data.services).map(([id, s]) => ({
    id: `#${id}`,
    type: s.type,
    serviceEndpoint: s.endpoint,
  }))
  return { '@context': context, id: data.did, alsoKnownAs: data.alsoKnownAs, verificationMethod, service }
}
