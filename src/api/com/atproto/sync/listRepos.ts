// com.atproto.sync.listRepos: every hosted repo, whatever its status, in creation order.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function listRepos(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.listRepos',
    auth: s.auth.none,
    handler: ({ params }) => {
      const { repos, cursor } = s.accounts.listRepos({
        limit: params.limit as number,
        cursor: params.cursor as string | undefined,
      })
      const body: Record<string, unknown> = { repos }
      if (cursor !== undefined) body.cursor = cursor
      return { encoding: 'application/json', body }
    },
  }
}
