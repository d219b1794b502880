// com.atproto.server.deleteSession: log out (ends the session: every refresh token of its
// rotation chain and every access token issued with them).
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function deleteSession(s: Pick<Services, 'auth' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.deleteSession',
    auth: s.auth.refresh({ allowExpired: true }),
    handler: ({ auth }) => {
      if (auth.kind === 'refresh') s.sessions.deleteSession(auth.tokenId, auth.did)
    },
  }
}
