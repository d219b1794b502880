// app.bsky.feed.getFeed: the AppView serves it, with a service token addressed to the feed
// generator (lxm getFeedSkeleton) that the AppView passes on, as the official.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { assertRpcPermission } from '../../../../auth/permissions.ts'
import { pipethrough, streamOutput } from '../../../../proxy/pipethrough.ts'
import { computeProxyTo } from '../../../../proxy/target.ts'
import { appViewQuery } from '../../../../proxy/appview.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest, XrpcError } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const NSID = 'app.bsky.feed.getFeed'
const SKELETON = 'app.bsky.feed.getFeedSkeleton'

export default function getFeed(s: Pick<Services, 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>): XrpcMethod<AccessAuth> {
  return {
    nsid: NSID,
    auth: async (info) => {
      const auth = await s.auth.accessStandard(info)
      const aud = computeProxyTo(s, info.req, NSID)
      assertRpcPermission(auth, NSID, aud)
      assertRpcPermission(auth, SKELETON, aud)
      return auth
    },
    handler: async (ctx) => {
      const appView = s.config.bskyAppView
      if (!appView) throw invalidRequest(`No service configured for ${NSID}`)
      const [repo, collection, rkey] = String(ctx.params.feed).replace(/^at:\/\//, '').split('/')
      let feedDid: unknown
      try {
        const data = await appViewQuery(s, 'com.atproto.repo.getRecord', { repo, collection, rkey })
        feedDid = (data?.value as { did?: unknown } | undefined)?.did
      } catch (err) {
        // The AppView's refusal (e.g. RecordNotFound) or its absence is the answer; a body that
        // is not JSON only means no feed DID.
        if (err instanceof XrpcError) throw err
        feedDid = undefined
      }
      if (typeof feedDid !== 'string') throw invalidRequest('could not resolve feed did', 'UnknownFeed')
      return streamOutput(await pipethrough(s, ctx, { iss: ctx.auth.did, aud: feedDid, lxm: SKELETON }))
    },
  }
}
