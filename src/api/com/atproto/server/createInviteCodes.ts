// com.atproto.server.createInviteCodes (admin): codeCount codes for each account (default `admin`).
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const MAX_CODE_COUNT = 10_000

export default function createInviteCodes(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.createInviteCodes',
    auth: s.auth.admin,
    handler: ({ input }) => {
      const body = input as { codeCount: number; useCount: number; forAccounts?: string[] }
      // The official has no bound; one keeps a typo from generating millions of codes.
      if (body.codeCount > MAX_CODE_COUNT) throw invalidRequest(`codeCount must be at most ${MAX_CODE_COUNT}`)
      const codes = (body.forAccounts ?? ['admin']).map((account) => ({
        account,
        codes: s.accounts.generateInviteCodes(body.codeCount),
      }))
      s.accounts.createInviteCodes(codes, body.useCount)
      return { encoding: 'application/json', body: { codes } }
    },
  }
}
