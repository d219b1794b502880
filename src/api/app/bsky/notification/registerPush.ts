// app.bsky.notification.registerPush: forwards the push registration, with a service token, to
// the AppView when it is the named service, else to the `#bsky_notif` endpoint of the
// service's DID document (behind the SSRF guard).
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { getServiceEndpoint } from '../../../../identity/did-doc.ts'
import { postJsonUpstream } from '../../../../proxy/pipethrough.ts'
import type { UpstreamTarget } from '../../../../proxy/upstream.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const NSID = 'app.bsky.notification.registerPush'

export default function registerPush(s: Services): XrpcMethod<AccessAuth> {
  return {
    nsid: NSID,
    auth: s.auth.access({ additional: ['com.atproto.signupQueued'] }),
    handler: async ({ input, auth }) => {
      const appView = s.config.bskyAppView
      if (!appView) throw invalidRequest(`No service configured for ${NSID}`)
      const body = input as { serviceDid: string }
      const serviceDid = body.serviceDid
      let target: UpstreamTarget
      if (serviceDid === appView.did) target = { did: appView.did, url: appView.url, trusted: true }
      else {
        let doc = null
        try {
          doc = await s.didResolver.resolve(serviceDid)
        } catch {
          doc = null
        }
        if (!doc) throw invalidRequest(`could not resolve did document: ${serviceDid}`)
        const url = getServiceEndpoint(doc, { id: '#bsky_notif', type: 'BskyNotificationService' })
        if (!url) throw invalidRequest(`invalid notification service details in did document: ${serviceDid}`)
        target = { did: serviceDid, url, trusted: false }
      }
      const res = await postJsonUpstream(s, target, NSID, auth.did, body)
      res.body.resume()
    },
  }
}
