// app.bsky.notification.unregisterPush (official 0.5 line): the counterpart of registerPush,
// sent to the same service registerPush would reach (not proxied to the AppView as any other
// app.bsky method would be, which would miss a separate notification service).
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { forwardPush } from './push-target.ts'

const NSID = 'app.bsky.notification.unregisterPush'

export default function unregisterPush(s: Pick<Services, 'actors' | 'auth' | 'config' | 'didResolver' | 'proxy'>): XrpcMethod<AccessAuth> {
  return {
    nsid: NSID,
    auth: s.auth.access(),
    handler: async ({ input, auth }) => {
      await forwardPush(s, NSID, auth, input as { serviceDid: string })
    },
  }
}
