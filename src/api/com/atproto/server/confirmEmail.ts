// com.atproto.server.confirmEmail: marks the account's email confirmed with the emailed code.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function confirmEmail(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.confirmEmail',
    auth: s.auth.access({ checkTakedown: true }),
    handler: ({ auth, input }) => {
      const { email, token } = input as { email: string; token: string }
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true })
      if (!account) throw invalidRequest('user not found', 'AccountNotFound')
      // The code proves control of the address it was sent to: the client must name that address.
      if (account.email !== email.toLowerCase()) throw invalidRequest('invalid email', 'InvalidEmail')
      s.accounts.confirmEmail(auth.did, token)
    },
  }
}
