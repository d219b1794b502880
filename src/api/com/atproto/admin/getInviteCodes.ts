// com.atproto.admin.getInviteCodes (moderator): every code, newest or most used first, with uses.
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function getInviteCodes(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.getInviteCodes',
    auth: s.auth.moderator,
    handler: ({ params }) => {
      const sort = (params.sort as string | undefined) ?? 'recent'
      if (sort !== 'recent' && sort !== 'usage') throw invalidRequest(`unknown sort method: ${sort}`)
      const page = s.accounts.listInviteCodes({
        sort,
        limit: (params.limit as number | undefined) ?? 100,
        cursor: params.cursor as string | undefined,
      })
      const body: Record<string, unknown> = { codes: page.codes }
      if (page.cursor) body.cursor = page.cursor
      return { encoding: 'application/json', body }
    },
  }
}
