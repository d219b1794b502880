// com.atproto.admin.enableAccountInvites (moderator).
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function enableAccountInvites(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.enableAccountInvites',
    auth: s.auth.moderator,
    handler: ({ input }) => {
      s.accounts.setAccountInvitesDisabled((input as { account: string }).account, false)
    },
  }
}
