// com.atproto.admin.getAccountInfos (moderator): AccountViews of the DIDs this PDS knows; unknown ones are left out.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { formatAccountInfo } from './util.ts'

export default function getAccountInfos(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.getAccountInfos',
    auth: s.auth.moderator,
    handler: ({ params }) => {
      const dids = params.dids as string[]
      const accounts = s.accounts.getAccounts(dids, { includeTakenDown: true, includeDeactivated: true })
      const invites = s.accounts.getAccountsInviteCodes(dids)
      const invitedBy = s.accounts.getInvitedByForAccounts(dids)
      const infos = [...accounts.values()].map((a) => formatAccountInfo(a, invites.get(a.did) ?? [], invitedBy[a.did]))
      return { encoding: 'application/json', body: { infos } }
    },
  }
}
