// com.atproto.server.createInviteCode (admin): one code, for an account or for `admin`.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function createInviteCode(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.createInviteCode',
    auth: s.auth.admin,
    handler: ({ input }) => {
      const { useCount, forAccount = 'admin' } = input as { useCount: number; forAccount?: string }
      const [code] = s.accounts.generateInviteCodes(1)
      s.accounts.createInviteCodes([{ account: forAccount, codes: [code] }], useCount)
      return { encoding: 'application/json', body: { code } }
    },
  }
}
