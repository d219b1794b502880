// com.atproto.server.deleteSession: log out (revokes the refresh token and its access tokens).
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function deleteSession(s: Services): XrpcMethod {
  return {
    nsid: 'com.atproto.server.deleteSession',
    auth: s.auth.refresh({ allowExpired: true }),
    handler: ({ auth }) => {
      if (auth.kind === 'refresh') s.sessions.deleteSession(auth.tokenId)
    },
  }
}
