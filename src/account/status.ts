// The one account-status check, with the official errors: an unknown account 403
// AccountNotFound, a taken-down one 401 AccountTakedown, a deactivated one 401
// AccountDeactivated. Used by the auth verifiers (legacy and OAuth) and the repo writes.
import { authRequired, forbidden } from '../errors.ts'
import type { AccountRow } from './store.ts'

export interface StatusChecks {
  checkTakedown?: boolean
  checkDeactivated?: boolean
}

export function assertAccountUsable(
  account: Pick<AccountRow, 'takedownRef' | 'deactivatedAt'> | null,
  checks: StatusChecks,
): asserts account is NonNullable<typeof account> {
  if (!account) throw forbidden('Account not found', 'AccountNotFound')
  if (checks.checkTakedown && account.takedownRef) throw authRequired('Account has been taken down', 'AccountTakedown')
  if (checks.checkDeactivated && account.deactivatedAt) throw authRequired('Account is deactivated', 'AccountDeactivated')
}
