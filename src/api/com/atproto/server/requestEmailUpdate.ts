// com.atproto.server.requestEmailUpdate: whether changing the email needs a code, and if so
// (the current address is confirmed) an `update_email` code sent to the current address. As
// updateEmail, and as the official since 0.5.35: full password sessions only (app passwords get
// 400 InvalidToken, OAuth sessions 403 Forbidden, see OAUTH_METHOD_RULES).
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { perAccountEmailLimits } from './account-email-limits.ts'

export default function requestEmailUpdate(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.requestEmailUpdate',
    auth: s.auth.access({ scopes: ACCESS_FULL, checkTakedown: true }),
    rateLimits: perAccountEmailLimits('request-email-update'),
    handler: async ({ auth }) => {
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true, includeTakenDown: true })
      if (!account) throw invalidRequest('account not found')
      if (!account.email) throw invalidRequest('account does not have an email address')
      const tokenRequired = !!account.emailConfirmedAt
      if (tokenRequired) {
        const token = s.accounts.createEmailToken(auth.did, 'update_email')
        await s.mailer.sendUpdateEmail({ token, handle: account.handle }, { to: account.email })
      }
      return { encoding: 'application/json', body: { tokenRequired } }
    },
  }
}
