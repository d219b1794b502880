// com.atproto.identity.refreshIdentity: resolveIdentity past the DID cache, rewriting the cached
// document. A Hearth addition; it makes outbound requests on demand, so it needs a session and is
// rate-limited per account.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { resolveIdentityInfo } from './identity-info.ts'

export default function refreshIdentity(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver' | 'handleResolver' | 'plc'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.identity.refreshIdentity',
    auth: s.auth.access(),
    rateLimits: [{ name: 'identity-refresh', durationMs: 60_000, points: 30, key: (ctx) => (ctx.auth as AccessAuth).did }],
    handler: async ({ input }) => {
      const info = await resolveIdentityInfo(s, (input as { identifier: string }).identifier, true)
      return { encoding: 'application/json', body: info }
    },
  }
}
