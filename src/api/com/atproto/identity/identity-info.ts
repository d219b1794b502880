// Shared by resolveDid, resolveIdentity and refreshIdentity: a DID document with the lexicon's
// errors (DidNotFound, DidDeactivated), and the bidirectional handle check — the handle a
// document claims counts only if it resolves back to the same DID.
import type { DidDocument } from '../../../../identity/did-doc.ts'
import { getHandle } from '../../../../identity/did-doc.ts'
import {
  DidResolutionError,
  PlcRequestError,
  PoorlyFormattedDidDocumentError,
  PoorlyFormattedDidError,
  UnsupportedDidMethodError,
  UnsupportedDidWebPathError,
} from '../../../../identity/errors.ts'
import { isTombstone } from '../../../../identity/plc-lib.ts'
import { isValidDid, isValidHandle } from '../../../../repo/syntax.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest, upstreamFailure } from '../../../../errors.ts'

export const HANDLE_INVALID = 'handle.invalid'

export interface IdentityInfo {
  did: string
  handle: string
  didDoc: DidDocument
}

const didNotFound = (did: string) => invalidRequest(`DID not found: ${did}`, 'DidNotFound')
const didDeactivated = (did: string) => invalidRequest(`DID deactivated: ${did}`, 'DidDeactivated')
const handleNotFound = (handle: string) => invalidRequest(`Unable to resolve handle: ${handle}`, 'HandleNotFound')

/** The DID document, through the cache unless `fresh`; 400 DidNotFound / DidDeactivated. */
export async function resolveDidDoc(s: Pick<Services, 'didResolver' | 'plc'>, did: string, fresh = false): Promise<DidDocument> {
  let doc: DidDocument | null
  try {
    doc = await s.didResolver.resolve(did, fresh)
  } catch (err) {
    if (err instanceof PoorlyFormattedDidError || err instanceof UnsupportedDidMethodError || err instanceof UnsupportedDidWebPathError) {
      throw invalidRequest(err.message)
    }
    if (err instanceof PoorlyFormattedDidDocumentError) throw didNotFound(did)
    // A directory answers 410 Gone for a tombstoned did:plc.
    if (err instanceof DidResolutionError && err.cause instanceof PlcRequestError && err.cause.status === 410) {
      throw didDeactivated(did)
    }
    throw upstreamFailure(`Could not resolve DID: ${did}`)
  }
  if (!doc) {
    if (did.startsWith('did:plc:') && (await isTombstoned(s, did))) throw didDeactivated(did)
    throw didNotFound(did)
  }
  return doc
}

// Directories answer 404 (the reference one) or 410 (plc.directory) for a tombstoned DID; its
// last operation tells a deactivated DID from one that never existed.
async function isTombstoned(s: Pick<Services, 'plc'>, did: string): Promise<boolean> {
  try {
    return isTombstone(await s.plc.getLastOp(did))
  } catch {
    return false
  }
}

/**
 * The DID a handle points to: a hosted account's from the database, any other by DNS/HTTPS. A
 * handle under a service domain that no account holds points nowhere. Undefined when none.
 */
export async function resolveHandleToDid(s: Pick<Services, 'accounts' | 'config' | 'handleResolver'>, handle: string): Promise<string | undefined> {
  const account = s.accounts.getAccount(handle)
  if (account) return account.did
  if (s.config.identity.serviceHandleDomains.some((d) => handle.endsWith(d) || handle === d.slice(1))) return undefined
  const did = await s.handleResolver.resolve(handle).catch(() => undefined)
  return did && isValidDid(did) ? did : undefined
}

/** The document's handle when it resolves back to `did`, else 'handle.invalid'. */
export async function verifiedHandle(s: Pick<Services, 'accounts' | 'config' | 'handleResolver'>, did: string, doc: DidDocument): Promise<string> {
  const handle = getHandle(doc)?.toLowerCase()
  if (!handle || !isValidHandle(handle)) return HANDLE_INVALID
  return (await resolveHandleToDid(s, handle)) === did ? handle : HANDLE_INVALID
}

/**
 * A handle or DID to its identity. From a DID, an unverifiable handle is 'handle.invalid'; from
 * a handle, a DID document that does not claim it back is 400 HandleNotFound.
 */
export async function resolveIdentityInfo(s: Pick<Services, 'accounts' | 'config' | 'didResolver' | 'handleResolver' | 'plc'>, identifier: string, fresh = false): Promise<IdentityInfo> {
  if (identifier.startsWith('did:')) {
    const didDoc = await resolveDidDoc(s, identifier, fresh)
    return { did: identifier, handle: await verifiedHandle(s, identifier, didDoc), didDoc }
  }
  const handle = identifier.toLowerCase()
  const did = await resolveHandleToDid(s, handle)
  if (!did) throw handleNotFound(handle)
  const didDoc = await resolveDidDoc(s, did, fresh)
  if (getHandle(didDoc)?.toLowerCase() !== handle) throw handleNotFound(handle)
  return { did, handle, didDoc }
}
