// com.atproto.admin.updateAccountEmail (admin): sets an account's email (unconfirmed), by handle or DID.
import { AccountConflictError } from '../../../../account/errors.ts'
import { isSupportedEmail, UNSUPPORTED_EMAIL_MESSAGE } from '../../../../mail/address.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function updateAccountEmail(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.updateAccountEmail',
    auth: s.auth.admin,
    handler: ({ input }) => {
      const { account: id, email } = input as { account: string; email: string }
      // The official takes any string here; Hearth holds the operator to the same rule as users,
      // since this address is mailed to like any other.
      if (!isSupportedEmail(email)) throw invalidRequest(UNSUPPORTED_EMAIL_MESSAGE)
      const account = s.accounts.getAccount(id, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw invalidRequest(`Account does not exist: ${id}`)
      try {
        s.accounts.updateEmail(account.did, email)
      } catch (err) {
        // The official lets the unique index fail (a 500); a named 400 tells the operator why.
        if (err instanceof AccountConflictError) throw invalidRequest('This email address is already in use, please use a different one.')
        throw err
      }
    },
  }
}
