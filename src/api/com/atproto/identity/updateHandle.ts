// com.atproto.identity.updateHandle: the account's own handle change (src/account/handle.ts
// does the work). As official: any session, app passwords included, but not a taken-down
// account; 10 per 5 minutes and 50 per day per DID.
import { updateAccountHandle } from '../../../../actions/handle.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const byDid = (ctx: { auth: unknown }) => (ctx.auth as AccessAuth).did

export default function updateHandle(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver' | 'handleResolver' | 'logger' | 'plc' | 'plcRotationKey' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.identity.updateHandle',
    auth: s.auth.access({ checkTakedown: true }),
    rateLimits: [
      { name: 'identity-update-handle-5m', durationMs: 5 * 60_000, points: 10, key: byDid },
      { name: 'identity-update-handle-day', durationMs: 24 * 60 * 60_000, points: 50, key: byDid },
    ],
    handler: async ({ auth, input }) => {
      await updateAccountHandle(s, auth.did, (input as { handle: string }).handle)
    },
  }
}
