// What the com.atproto.admin methods share: the AccountView shape and subject lookups.
import type { AccountRow } from '../../../../account/accounts.ts'
import type { InviteCodeInfo } from '../../../../account/invites.ts'
import type { ActorStore } from '../../../../actor/store.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'

/** The handle an account without a valid one shows, as official. */
export const INVALID_HANDLE = 'handle.invalid'

/** com.atproto.admin.defs#accountView, as the official formatAccountInfo builds it (this PDS manages its own invites). */
export function formatAccountInfo(
  account: AccountRow,
  invites: InviteCodeInfo[],
  invitedBy: InviteCodeInfo | undefined,
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    did: account.did,
    handle: account.handle ?? INVALID_HANDLE,
    indexedAt: account.createdAt,
    invites,
    invitesDisabled: account.invitesDisabled === 1,
  }
  if (account.email) view.email = account.email
  if (account.emailConfirmedAt) view.emailConfirmedAt = account.emailConfirmedAt
  if (invitedBy) view.invitedBy = invitedBy
  if (account.deactivatedAt) view.deactivatedAt = account.deactivatedAt
  return view
}

/** The parts of an at-uri the router already validated: `at://<authority>/<collection>/<rkey>`. */
export function parseRecordUri(uri: string): { authority: string; collection: string; rkey: string } {
  const m = /^at:\/\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)$/.exec(uri)
  if (!m) throw invalidRequest('Record URI must name a repo, a collection and a record key')
  return { authority: m[1], collection: m[2], rkey: m[3] }
}

/**
 * The actor store behind a subject's DID (or handle, for an at-uri authority); null when this
 * PDS hosts no such repo. Taken-down and deactivated accounts are included: moderation acts on them.
 */
export function subjectStore(s: Pick<Services, 'accounts' | 'actors'>, didOrHandle: string): ActorStore | null {
  const account = s.accounts.getAccount(didOrHandle, { includeTakenDown: true, includeDeactivated: true })
  return account ? s.actors.get(account.did) : null
}
