// com.atproto.sync.getRepoStatus: whether a repo is active, and its rev when it is. Public: it
// tells anyone that an account is deactivated or taken down, as the official does.
import { formatAccountStatus } from '../../../../account/status.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { assertRepoAvailability } from './util.ts'

export default function getRepoStatus(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getRepoStatus',
    auth: s.auth.none,
    handler: ({ params }) => {
      const did = params.did as string
      const account = assertRepoAvailability(s, did, true)
      const { active, status } = formatAccountStatus(account)
      const body: Record<string, unknown> = { did, active }
      if (status) body.status = status
      if (active) {
        const rev = s.actors.get(did)?.head()?.rev
        if (rev) body.rev = rev
      }
      return { encoding: 'application/json', body }
    },
  }
}
