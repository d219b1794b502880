// An account's status, as the official PDS reports and checks it. The one account-status check,
// with the official errors: an unknown account 403 AccountNotFound, a taken-down one 401
// AccountTakedown, a deactivated one 401 AccountDeactivated. Used by the auth verifiers (legacy
// and OAuth) and the repo writes.
import { authRequired, forbidden } from '../errors.ts'

/** The actor row's columns an account's status comes from. */
export interface AccountStateColumns {
  takedownRef: string | null
  deactivatedAt: string | null
}

export type AccountStatus = 'active' | 'takendown' | 'deactivated' | 'deleted'

/** The official formatAccountStatus: `status` is absent for an active account. */
export function formatAccountStatus(account: AccountStateColumns | null | undefined): {
  active: boolean
  status?: Exclude<AccountStatus, 'active'>
} {
  if (!account) return { active: false, status: 'deleted' }
  if (account.takedownRef) return { active: false, status: 'takendown' }
  if (account.deactivatedAt) return { active: false, status: 'deactivated' }
  return { active: true }
}

export interface StatusChecks {
  checkTakedown?: boolean
  checkDeactivated?: boolean
}

export function assertAccountUsable(
  account: AccountStateColumns | null,
  checks: StatusChecks,
): asserts account is NonNullable<typeof account> {
  if (!account) throw forbidden('Account not found', 'AccountNotFound')
  if (checks.checkTakedown && account.takedownRef) throw authRequired('Account has been taken down', 'AccountTakedown')
  if (checks.checkDeactivated && account.deactivatedAt) throw authRequired('Account is deactivated', 'AccountDeactivated')
}
