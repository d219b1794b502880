// DID documents: their shape, their validation, and the atproto data inside them (handle, repo
// signing key, PDS endpoint, other service endpoints). The validation accepts what
// @atproto/identity accepts (the common-web `didDocument` schema: extra members allowed), so a
// document the official PDS resolves, Hearth resolves too.
import { fromBase16, fromBase32, fromBase58Btc, fromBase64, fromBase64Url } from '@atcute/multibase'
import { formatDidKey, type JwtAlg, MAX_KEY_STRING_LENGTH, parseMultikey } from '../repo/crypto/index.ts'
import { PoorlyFormattedDidDocumentError } from './errors.ts'

export interface VerificationMethod {
  id: string
  type: string
  controller: string
  publicKeyMultibase?: string
  publicKeyJwk?: Record<string, unknown>
}

export interface DidService {
  id: string
  type: string
  serviceEndpoint: string | Record<string, unknown>
}

export interface DidDocument {
  '@context'?: string | string[]
  id: string
  alsoKnownAs?: string[]
  verificationMethod?: VerificationMethod[]
  authentication?: Array<string | VerificationMethod>
  service?: DidService[]
  [key: string]: unknown
}

/** What atproto needs from a DID document. */
export interface AtprotoData {
  did: string
  /** did:key of the `#atproto` verification method. */
  signingKey: string
  handle: string
  /** The `#atproto_pds` service endpoint. */
  pds: string
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isString = (v: unknown): v is string => typeof v === 'string'
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString)

function isUrl(v: string): boolean {
  return URL.canParse(v)
}

function verificationMethodProblem(v: unknown): string | null {
  if (!isObject(v)) return 'verification method is not an object'
  if (!isString(v.id) || !isString(v.type) || !isString(v.controller)) return 'verification method needs string id, type and controller'
  if (v.publicKeyMultibase !== undefined && !isString(v.publicKeyMultibase)) return 'publicKeyMultibase must be a string'
  if (v.publicKeyJwk !== undefined && !isObject(v.publicKeyJwk)) return 'publicKeyJwk must be an object'
  return null
}

/** Why `doc` is not a DID document (null when it is one). */
export function didDocumentProblem(doc: unknown): string | null {
  if (!isObject(doc)) return 'not a JSON object'
  const ctx = doc['@context']
  if (ctx !== undefined && ctx !== 'https://www.w3.org/ns/did/v1' && !(isStringArray(ctx) && ctx.every(isUrl))) {
    return '@context must be the DID v1 context or an array of URLs'
  }
  if (!isString(doc.id)) return 'id must be a string'
  if (doc.alsoKnownAs !== undefined && !isStringArray(doc.alsoKnownAs)) return 'alsoKnownAs must be an array of strings'
  if (doc.verificationMethod !== undefined) {
    if (!Array.isArray(doc.verificationMethod)) return 'verificationMethod must be an array'
    for (const vm of doc.verificationMethod) {
      const problem = verificationMethodProblem(vm)
      if (problem) return problem
    }
  }
  if (doc.authentication !== undefined) {
    if (!Array.isArray(doc.authentication)) return 'authentication must be an array'
    for (const a of doc.authentication) {
      if (isString(a)) continue
      const problem = verificationMethodProblem(a)
      if (problem) return problem
    }
  }
  if (doc.service !== undefined) {
    if (!Array.isArray(doc.service)) return 'service must be an array'
    for (const s of doc.service) {
      if (!isObject(s) || !isString(s.id) || !isString(s.type)) return 'service needs string id and type'
      if (!isString(s.serviceEndpoint) && !isObject(s.serviceEndpoint)) return 'serviceEndpoint must be a string or an object'
    }
  }
  return null
}

/** Checks that `doc` is a DID document for `did` (its `id` must be the DID itself). */
export function validateDidDocument(did: string, doc: unknown): DidDocument {
  const problem = didDocumentProblem(doc)
  if (problem) throw new PoorlyFormattedDidDocumentError(did, problem)
  const valid = doc as DidDocument
  if (valid.id !== did) throw new PoorlyFormattedDidDocumentError(did, `id ${JSON.stringify(valid.id)} does not match`)
  return valid
}

// An entry's id may be relative (`#atproto`) or absolute (`did:plc:…#atproto`); both name it.
function findById<T extends { id: string }>(doc: DidDocument, items: T[] | undefined, fragment: string): T | undefined {
  if (!items) return undefined
  const absolute = doc.id + fragment
  return items.find((item) => item.id === fragment || item.id === absolute)
}

/** The handle of the first `at://` alias, as written (not normalized). */
export function getHandle(doc: DidDocument): string | undefined {
  const alias = doc.alsoKnownAs?.find((aka) => aka.startsWith('at://'))
  return alias?.slice('at://'.length)
}

function multibaseBytes(value: string): Uint8Array {
  const body = value.slice(1)
  switch (value[0]) {
    case 'z':
      // Base58 decoding is quadratic in the length; a key is far shorter than this.
      if (value.length > MAX_KEY_STRING_LENGTH) throw new TypeError('key string too long')
      return fromBase58Btc(body)
    case 'f':
    case 'F':
      return fromBase16(body.toLowerCase())
    case 'b':
    case 'B':
      return fromBase32(body.toLowerCase())
    case 'm':
      return fromBase64(body)
    case 'u':
      return fromBase64Url(body)
    default:
      throw new TypeError(`unsupported multibase prefix ${JSON.stringify(value[0])}`)
  }
}

const LEGACY_KEY_TYPES: Record<string, JwtAlg> = {
  EcdsaSecp256k1VerificationKey2019: 'ES256K',
  EcdsaSecp256r1VerificationKey2019: 'ES256',
}

/**
 * The did:key of a verification method: `Multikey` (multicodec-prefixed key, what plc.directory
 * serves today) or the legacy 2019 suite types (bare key bytes, compressed or not). Undefined for
 * other types or an unparsable key.
 */
export function didKeyOfVerificationMethod(vm: Pick<VerificationMethod, 'type' | 'publicKeyMultibase'>): string | undefined {
  if (!vm.publicKeyMultibase) return undefined
  try {
    if (vm.type === 'Multikey') {
      const { jwtAlg, publicKey } = parseMultikey(vm.publicKeyMultibase)
      return formatDidKey(jwtAlg, publicKey)
    }
    const legacyAlg = LEGACY_KEY_TYPES[vm.type]
    if (legacyAlg) return formatDidKey(legacyAlg, multibaseBytes(vm.publicKeyMultibase))
  } catch {
    return undefined
  }
  return undefined
}

/** did:key of the `#<keyId>` verification method (default `#atproto`, the repo signing key). */
export function getSigningKey(doc: DidDocument, keyId = 'atproto'): string | undefined {
  const vm = findById(doc, doc.verificationMethod, `#${keyId}`)
  return vm ? didKeyOfVerificationMethod(vm) : undefined
}

/**
 * The endpoint of service `#<id>`, when it has the expected type and is an http(s) URL. As the
 * official resolver, an endpoint that is not a parsable http(s) URL counts as absent.
 */
export function getServiceEndpoint(doc: DidDocument, opts: { id: string; type?: string }): string | undefined {
  const fragment = opts.id.startsWith('#') ? opts.id : `#${opts.id}`
  const service = findById(doc, doc.service, fragment)
  if (!service) return undefined
  if (opts.type !== undefined && service.type !== opts.type) return undefined
  const endpoint = service.serviceEndpoint
  if (typeof endpoint !== 'string') return undefined
  if (!endpoint.startsWith('http://') && !endpoint.startsWith('https://')) return undefined
  if (!URL.canParse(endpoint)) return undefined
  return endpoint
}

export function getPdsEndpoint(doc: DidDocument): string | undefined {
  return getServiceEndpoint(doc, { id: '#atproto_pds', type: 'AtprotoPersonalDataServer' })
}

/** The atproto data a document carries, each field undefined when absent or unusable. */
export function parseAtprotoData(doc: DidDocument): Partial<AtprotoData> & { did: string } {
  return { did: doc.id, signingKey: getSigningKey(doc), handle: getHandle(doc), pds: getPdsEndpoint(doc) }
}

/** The atproto data of a document; throws when the handle, signing key or PDS is missing. */
export function ensureAtprotoData(doc: DidDocument): AtprotoData {
  const data = parseAtprotoData(doc)
  if (!data.signingKey) throw new PoorlyFormattedDidDocumentError(doc.id, 'no usable #atproto signing key')
  if (!data.handle) throw new PoorlyFormattedDidDocumentError(doc.id, 'no at:// handle in alsoKnownAs')
  if (!data.pds) throw new PoorlyFormattedDidDocumentError(doc.id, 'no #atproto_pds service endpoint')
  return data as AtprotoData
}
