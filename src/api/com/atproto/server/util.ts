// Shared by the server methods: the session view of an account and handle checks at signup.
import type { AccountRow } from '../../../../account/store.ts'
import { formatAccountStatus } from '../../../../account/store.ts'
import { isValidHandle } from '../../../../repo/syntax.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'

/** did, handle, email fields, active and status as createSession/getSession return them. */
export function sessionView(account: AccountRow): Record<string, unknown> {
  const status = formatAccountStatus(account)
  const view: Record<string, unknown> = {
    did: account.did,
    handle: account.handle ?? 'handle.invalid',
    active: status.active,
  }
  if (account.email) {
    view.email = account.email
    view.emailConfirmed = !!account.emailConfirmedAt
  }
  if (status.status) view.status = status.status
  return view
}

/** The official rules for a new handle under one of the service domains. */
export function normalizeSignupHandle(s: Services, raw: string): string {
  const handle = raw.toLowerCase()
  if (!isValidHandle(handle)) throw invalidRequest('Handle is invalid', 'InvalidHandle')
  const domain = s.config.identity.serviceHandleDomains.find((d) => handle.endsWith(d))
  if (!domain) throw invalidRequest('Not a supported handle domain', 'UnsupportedDomain')
  const front = handle.slice(0, handle.length - domain.length)
  if (front.includes('.')) throw invalidRequest('Invalid characters in handle', 'InvalidHandle')
  if (front.length < 3) throw invalidRequest('Handle too short', 'InvalidHandle')
  if (front.length > 18) throw invalidRequest('Handle too long', 'InvalidHandle')
  return handle
}
