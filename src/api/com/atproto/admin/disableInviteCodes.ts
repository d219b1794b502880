// com.atproto.admin.disableInviteCodes (moderator): by code, or every code of some accounts
// (the `admin` pseudo-account's codes may not be disabled wholesale, as official).
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function disableInviteCodes(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.disableInviteCodes',
    auth: s.auth.moderator,
    handler: ({ input }) => {
      const { codes = [], accounts = [] } = input as { codes?: string[]; accounts?: string[] }
      if (accounts.includes('admin')) throw invalidRequest('cannot disable admin invite codes')
      s.accounts.disableInviteCodes({ codes, accounts })
    },
  }
}
