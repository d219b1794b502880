// app.bsky.notification.registerPush: forwards the push registration, with a service token, to
// the AppView or the named notification service (see push-target.ts).
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { forwardPush } from './push-target.ts'

const NSID = 'app.bsky.notification.registerPush'

export default function registerPush(s: Pick<Services, 'actors' | 'auth' | 'config' | 'didResolver' | 'proxy'>): XrpcMethod<AccessAuth> {
  return {
    nsid: NSID,
    auth: s.auth.access({ additional: ['com.atproto.signupQueued'] }),
    handler: async ({ input, auth }) => {
      await forwardPush(s, NSID, auth, input as { serviceDid: string })
    },
  }
}
