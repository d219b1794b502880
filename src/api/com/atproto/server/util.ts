// Shared by the server methods: the session view of an account, handle checks at signup, and
// the DID document returned with a session.
import { isValidTld } from '@atproto/syntax'
import type { AccountRow } from '../../../../account/store.ts'
import { formatAccountStatus } from '../../../../account/store.ts'
import { getPdsEndpoint, getSigningKey } from '../../../../identity/did-doc.ts'
import { isValidHandle } from '../../../../repo/syntax.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'

/** did, handle, email fields, active and status as createSession/getSession return them. */
export function sessionView(account: AccountRow): Record<string, unknown> {
  const status = formatAccountStatus(account)
  const view: Record<string, unknown> = {
    did: account.did,
    handle: account.handle ?? 'handle.invalid',
  }
  if (account.email) view.email = account.email
  // As official: present even for an account without an email.
  view.emailConfirmed = !!account.emailConfirmedAt
  view.active = status.active
  if (status.status) view.status = status.status
  return view
}

/** Lower-cases and checks handle syntax (400 InvalidHandle), as the official baseNormalizeAndValidate. */
export function normalizeHandle(raw: string): string {
  const handle = raw.toLowerCase()
  if (!isValidHandle(handle)) throw invalidRequest('Handle is invalid', 'InvalidHandle')
  return handle
}

export function isServiceDomain(s: Services, handle: string): boolean {
  return s.config.identity.serviceHandleDomains.some((d) => handle.endsWith(d))
}

/**
 * The official rules for a handle at signup: valid syntax and TLD; under a service domain as
 * `<3–18 chars, no dots>.<domain>`; any other domain only for an existing DID moving in, and
 * only when the handle already resolves to that DID.
 */
export async function normalizeSignupHandle(s: Services, raw: string, did?: string): Promise<string> {
  const handle = normalizeHandle(raw)
  if (!isValidTld(handle)) throw invalidRequest('Handle TLD is invalid or disallowed', 'InvalidHandle')
  const domain = s.config.identity.serviceHandleDomains.find((d) => handle.endsWith(d))
  if (domain !== undefined) {
    const front = handle.slice(0, handle.length - domain.length)
    if (front.includes('.')) throw invalidRequest('Invalid characters in handle', 'InvalidHandle')
    if (front.length < 3) throw invalidRequest('Handle too short', 'InvalidHandle')
    if (front.length > 18) throw invalidRequest('Handle too long', 'InvalidHandle')
    return handle
  }
  if (did === undefined) throw invalidRequest('Not a supported handle domain', 'UnsupportedDomain')
  const resolved = await s.handleResolver.resolve(handle).catch(() => null)
  if (resolved !== did) throw invalidRequest('External handle did not resolve to DID')
  return handle
}

/** The DID document to return with a session, when PDS_ENABLE_DID_DOC_WITH_SESSION is on. */
export async function didDocForSession(s: Services, did: string): Promise<unknown> {
  if (!s.config.identity.enableDidDocWithSession) return undefined
  return (await s.didResolver.resolve(did).catch(() => null)) ?? undefined
}

/**
 * Whether the DID document makes this PDS the account's home: its PDS endpoint is our public
 * URL, its signing key is the repo key we hold and, for did:plc, our rotation key can update it.
 * Resolved fresh (the official checkAccountStatus/activateAccount check).
 */
export async function isValidDidDocForService(s: Services, did: string): Promise<boolean> {
  try {
    const store = s.actors.get(did)
    if (!store) return false
    let pds: string | undefined
    let signingKey: string | undefined
    if (did.startsWith('did:plc:')) {
      const data = await s.plc.getDocumentData(did)
      if (!data.rotationKeys.includes(s.plcRotationKey.did())) return false
      pds = data.services.atproto_pds?.endpoint
      signingKey = data.verificationMethods.atproto
    } else {
      const doc = await s.didResolver.resolve(did, true)
      if (!doc) return false
      pds = getPdsEndpoint(doc)
      signingKey = getSigningKey(doc)
    }
    return pds === s.config.service.publicUrl && signingKey === store.keypair().did()
  } catch {
    return false
  }
}
