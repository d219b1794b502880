// com.atproto.identity.requestPlcOperationSignature: emails a `plc_operation` code, which
// identity.signPlcOperation then requires before signing a change to the DID document.
import { ACCESS_FULL, SCOPE_TAKENDOWN } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function requestPlcOperationSignature(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.identity.requestPlcOperationSignature',
    // As official: a taken-down account may still move its identity away.
    auth: s.auth.access({ scopes: ACCESS_FULL, additional: [SCOPE_TAKENDOWN] }),
    handler: async ({ auth }) => {
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true, includeTakenDown: true })
      if (!account) throw invalidRequest('account not found')
      if (!account.email) throw invalidRequest('account does not have an email address')
      const token = s.accounts.createEmailToken(auth.did, 'plc_operation')
      await s.mailer.sendPlcOperation({ token, handle: account.handle }, { to: account.email })
    },
  }
}
