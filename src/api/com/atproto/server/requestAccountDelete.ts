// com.atproto.server.requestAccountDelete: emails a `delete_account` code to the account's address.
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { perAccountEmailLimits } from './account-email-limits.ts'

export default function requestAccountDelete(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.requestAccountDelete',
    auth: s.auth.access({ scopes: ACCESS_FULL, checkTakedown: true }),
    rateLimits: perAccountEmailLimits('request-account-delete'),
    handler: async ({ auth }) => {
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true, includeTakenDown: true })
      if (!account) throw invalidRequest('account not found')
      if (!account.email) throw invalidRequest('account does not have an email address')
      const token = s.accounts.createEmailToken(auth.did, 'delete_account')
      await s.mailer.sendAccountDelete({ token, handle: account.handle }, { to: account.email })
    },
  }
}
