// com.atproto.admin.getAccountInfo (moderator): one account's AccountView, whatever its status.
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { formatAccountInfo } from './util.ts'

export default function getAccountInfo(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.getAccountInfo',
    auth: s.auth.moderator,
    handler: ({ params }) => {
      const did = params.did as string
      const account = s.accounts.getAccount(did, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw invalidRequest('Account not found', 'NotFound')
      const invites = s.accounts.getAccountInviteCodes(did)
      const invitedBy = s.accounts.getInvitedByForAccounts([did])[did]
      return { encoding: 'application/json', body: formatAccountInfo(account, invites, invitedBy) }
    },
  }
}
