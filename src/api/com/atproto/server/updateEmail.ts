// com.atproto.server.updateEmail: sets a new, unconfirmed email; a confirmed current address
// must first approve the change with an `update_email` code.
import { AccountConflictError } from '../../../../account/errors.ts'
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { isSupportedEmail, UNSUPPORTED_EMAIL_MESSAGE } from '../../../../mail/address.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function updateEmail(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.updateEmail',
    auth: s.auth.access({ scopes: ACCESS_FULL, checkTakedown: true }),
    handler: ({ auth, input }) => {
      const { email, token } = input as { email: string; token?: string }
      if (!isSupportedEmail(email)) throw invalidRequest(UNSUPPORTED_EMAIL_MESSAGE)
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true })
      if (!account) throw invalidRequest('account not found')
      if (account.emailConfirmedAt) {
        if (!token) throw invalidRequest('confirmation token required', 'TokenRequired')
        s.accounts.assertValidEmailToken(auth.did, 'update_email', token)
      }
      try {
        // Also drops every email token of the account, this one included: a code works once.
        s.accounts.updateEmail(auth.did, email)
      } catch (err) {
        if (err instanceof AccountConflictError) {
          throw invalidRequest('This email address is already in use, please use a different email.')
        }
        throw err
      }
    },
  }
}
