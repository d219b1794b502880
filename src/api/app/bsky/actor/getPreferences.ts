// app.bsky.actor.getPreferences: the account's app.bsky preferences, served locally, unless an
// `atproto-proxy` header names another service than the configured AppView: then the call goes
// there, as the official.
import { locallyServedAuth, otherServiceAudience, pipethrough, streamOutput } from '../../../../proxy/pipethrough.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const NSID = 'app.bsky.actor.getPreferences'

export default function getPreferences(s: Pick<Services, 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>): XrpcMethod {
  return {
    nsid: NSID,
    auth: locallyServedAuth(s, NSID, { additional: ['com.atproto.takendown'] }),
    handler: async (ctx) => {
      const { auth } = ctx
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const aud = otherServiceAudience(s, ctx.req)
      if (aud) return streamOutput(await pipethrough(s, ctx, { iss: auth.did, aud, lxm: NSID }))
      const store = s.actors.get(auth.did)
      if (!store) throw invalidRequest(`Could not find repo for DID: ${auth.did}`)
      const preferences = store.getPreferences('app.bsky', { hasAccessFull: auth.scope === 'com.atproto.access' })
      return { encoding: 'application/json', body: { preferences } }
    },
  }
}
