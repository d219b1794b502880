// Shared by registerPush and unregisterPush: where a push (un)registration goes. The AppView when
// it is the named service, else the `#bsky_notif` endpoint of the service's DID document
// (behind the SSRF guard); an OAuth session needs the rpc permission for that service.
import { assertRpcPermission } from '../../../../auth/permissions.ts'
import { getServiceEndpoint } from '../../../../identity/did-doc.ts'
import { postJsonUpstream } from '../../../../proxy/pipethrough.ts'
import type { UpstreamTarget } from '../../../../proxy/upstream.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'

export async function forwardPush(s: Pick<Services, 'actors' | 'config' | 'didResolver' | 'proxy'>, nsid: string, auth: AccessAuth, body: { serviceDid: string }): Promise<void> {
  const appView = s.config.bskyAppView
  if (!appView) throw invalidRequest(`No service configured for ${nsid}`)
  const serviceDid = body.serviceDid
  assertRpcPermission(auth, nsid, `${serviceDid}#bsky_notif`)
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
  const res = await postJsonUpstream(s, target, nsid, auth.did, body)
  res.body.resume()
}
