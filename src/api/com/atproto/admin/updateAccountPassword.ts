// com.atproto.admin.updateAccountPassword (admin): sets a new password; as official, every
// session of the account (refresh tokens, app-password sessions too) is revoked and any
// password-reset token dropped. App passwords themselves stay.
import { hashPassword, NEW_PASSWORD_MAX_LENGTH } from '../../../../auth/password.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function updateAccountPassword(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.updateAccountPassword',
    auth: s.auth.admin,
    handler: async ({ input }) => {
      const { did, password } = input as { did: string; password: string }
      if (password.length > NEW_PASSWORD_MAX_LENGTH) throw invalidRequest('Invalid password length.')
      // The official silently updates nothing for an unknown DID; an operator resetting a
      // mistyped DID is better told (the same message as its updateAccountEmail).
      if (!s.accounts.getAccount(did, { includeTakenDown: true, includeDeactivated: true })) {
        throw invalidRequest(`Account does not exist: ${did}`)
      }
      s.accounts.updatePassword(did, await hashPassword(password))
    },
  }
}
