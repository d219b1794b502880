// app.bsky.actor.getPreferences: the account's app.bsky preferences, served locally.
import { getPreferences as readPreferences } from '../../../../actor/preferences.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function getPreferences(s: Services): XrpcMethod {
  return {
    nsid: 'app.bsky.actor.getPreferences',
    auth: s.auth.access({ additional: ['com.atproto.takendown'] }),
    handler: ({ auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const store = s.actors.get(auth.did)
      if (!store) throw invalidRequest(`Could not find repo for DID: ${auth.did}`)
      const preferences = readPreferences(store.db, 'app.bsky', { hasAccessFull: auth.scope === 'com.atproto.access' })
      return { encoding: 'application/json', body: { preferences } }
    },
  }
}
