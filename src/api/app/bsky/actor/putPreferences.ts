// app.bsky.actor.putPreferences: replaces the account's app.bsky preferences.
import { type Preference, putPreferences as writePreferences } from '../../../../actor/preferences.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function putPreferences(s: Services): XrpcMethod {
  return {
    nsid: 'app.bsky.actor.putPreferences',
    auth: s.auth.access({ checkTakedown: true }),
    handler: ({ auth, input }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const { preferences } = input as { preferences: unknown[] }
      const checked: Preference[] = []
      for (const pref of preferences) {
        const type = (pref as { $type?: unknown } | null)?.$type
        if (typeof type !== 'string') throw invalidRequest('Preference is missing a $type')
        checked.push(pref as Preference)
      }
      const store = s.actors.get(auth.did)
      if (!store) throw invalidRequest(`Could not find repo for DID: ${auth.did}`)
      writePreferences(store.db, checked, 'app.bsky', { hasAccessFull: auth.scope === 'com.atproto.access' })
    },
  }
}
