// com.atproto.server.refreshSession: rotate the refresh token, issue a new pair.
import type { Services } from '../../../../services.ts'
import { XrpcError } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { didDocForSession, sessionView } from './util.ts'

export default function refreshSession(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.refreshSession',
    auth: s.auth.refresh(),
    handler: async ({ auth }) => {
      if (auth.kind !== 'refresh') throw new XrpcError(401, 'AuthMissing', 'Authentication Required')
      const { account, ...tokens } = s.sessions.refreshSession(auth.did, auth.tokenId)
      const didDoc = await didDocForSession(s, account.did)
      return { encoding: 'application/json', body: { ...tokens, ...sessionView(account, !!s.accounts.getEmailAuthFactor(account.did)), ...(didDoc ? { didDoc } : {}) } }
    },
  }
}
