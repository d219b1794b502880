// Shared by the server methods: the session view of an account, handle syntax (the signup rules
// are account/handle.ts's normalizeAndValidateHandle) and the DID document returned with a session.
import type { AccountRow } from '../../../../account/accounts.ts'
import { formatAccountStatus } from '../../../../account/status.ts'
import { getPdsEndpoint, getSigningKey } from '../../../../identity/did-doc.ts'
import type { Services } from '../../../../services.ts'

/**
 * did, handle, email fields, active and status as createSession/getSession return them;
 * `emailAuthFactor` (official 0.5.36) is whether email two-factor sign-in is on.
 */
export function sessionView(account: AccountRow, emailAuthFactor: boolean): Record<string, unknown> {
  const status = formatAccountStatus(account)
  const view: Record<string, unknown> = {
    did: account.did,
    handle: account.handle ?? 'handle.invalid',
  }
  if (account.email) view.email = account.email
  // As official: present even for an account without an email.
  view.emailConfirmed = !!account.emailConfirmedAt
  view.emailAuthFactor = emailAuthFactor
  view.active = status.active
  if (status.status) view.status = status.status
  return view
}

/** The DID document to return with a session, when PDS_ENABLE_DID_DOC_WITH_SESSION is on. */
export async function didDocForSession(s: Pick<Services, 'config' | 'didResolver'>, did: string): Promise<unknown> {
  if (!s.config.identity.enableDidDocWithSession) return undefined
  return (await s.didResolver.resolve(did).catch(() => null)) ?? undefined
}

/**
 * Whether the DID document makes this PDS the account's home: its PDS endpoint is our public
 * URL, its signing key is the repo key we hold and, for did:plc, our rotation key can update it.
 * Resolved fresh (the official checkAccountStatus/activateAccount check).
 */
export async function isValidDidDocForService(s: Pick<Services, 'actors' | 'config' | 'didResolver' | 'plc' | 'plcRotationKey'>, did: string): Promise<boolean> {
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
