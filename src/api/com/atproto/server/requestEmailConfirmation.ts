// com.atproto.server.requestEmailConfirmation: emails a `confirm_email` code to the account's address.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { perAccountEmailLimits } from './account-email-limits.ts'

export default function requestEmailConfirmation(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.requestEmailConfirmation',
    auth: s.auth.access({ checkTakedown: true }),
    rateLimits: perAccountEmailLimits('request-email-confirmation'),
    handler: async ({ auth }) => {
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true, includeTakenDown: true })
      if (!account) throw invalidRequest('account not found')
      if (!account.email) throw invalidRequest('account does not have an email address')
      const token = s.accounts.createEmailToken(auth.did, 'confirm_email')
      await s.mailer.sendConfirmEmail({ token, handle: account.handle }, { to: account.email })
    },
  }
}
