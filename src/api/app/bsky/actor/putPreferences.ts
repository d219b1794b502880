// app.bsky.actor.putPreferences: replaces the account's app.bsky preferences. An
// `atproto-proxy` header naming another service than the configured AppView gets the official's
// message (its pipethrough does not forward procedures), as a 400 where the official answers
// 500: the request cannot be served as asked, and no request may end in a 5xx.
import type { Preference } from '../../../../actor/preferences.ts'
import { locallyServedAuth, otherServiceAudience } from '../../../../proxy/pipethrough.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const NSID = 'app.bsky.actor.putPreferences'

export default function putPreferences(s: Pick<Services, 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>): XrpcMethod {
  return {
    nsid: NSID,
    auth: locallyServedAuth(s, NSID, { checkTakedown: true }),
    handler: ({ auth, input, req }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      if (otherServiceAudience(s, req)) throw invalidRequest('Proxying of POST requests is not supported')
      const { preferences } = input as { preferences: unknown[] }
      const checked: Preference[] = []
      for (const pref of preferences) {
        const type = (pref as { $type?: unknown } | null)?.$type
        if (typeof type !== 'string') throw invalidRequest('Preference is missing a $type')
        checked.push(pref as Preference)
      }
      const store = s.actors.get(auth.did, { forWrite: true })
      if (!store) throw invalidRequest(`Could not find repo for DID: ${auth.did}`)
      store.putPreferences(checked, 'app.bsky', { hasAccessFull: auth.scope === 'com.atproto.access' })
    },
  }
}
