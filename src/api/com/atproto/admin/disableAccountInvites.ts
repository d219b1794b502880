// com.atproto.admin.disableAccountInvites (moderator): the account gets no new codes, and
// getAccountInviteCodes makes its periodic ones disabled.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function disableAccountInvites(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.disableAccountInvites',
    auth: s.auth.moderator,
    handler: ({ input }) => {
      s.accounts.setAccountInvitesDisabled((input as { account: string }).account, true)
    },
  }
}
