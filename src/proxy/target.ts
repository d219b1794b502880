// Where a proxied call goes: the service an `atproto-proxy: <did>#<service_id>` header names
// (found in that DID's document), or the configured default for the method.
import type { IncomingMessage } from 'node:http'
import type { ServerConfig } from '../config/index.ts'
import type { DidDocument } from '../identity/did-doc.ts'
import { getServiceEndpoint } from '../identity/did-doc.ts'
import { invalidRequest } from '../errors.ts'
import { defaultService } from './methods.ts'
import type { UpstreamTarget } from './upstream.ts'

export interface DidDocSource {
  resolve(did: string): Promise<DidDocument | null>
}

export interface ProxyTargetDeps {
  config: Pick<ServerConfig, 'bskyAppView' | 'modService' | 'reportService'>
  didResolver: DidDocSource
}

/** The `atproto-proxy` header, or undefined. */
export function proxyHeader(req: IncomingMessage): string | undefined {
  const value = req.headers['atproto-proxy']
  return Array.isArray(value) ? value[0] : value
}

/** Splits `did#service_id`, with the official checks and messages. */
export function parseProxyHeader(value: string): { did: string; serviceId: string } {
  const hash = value.indexOf('#')
  if (hash === 0) throw invalidRequest('no did specified in proxy header')
  if (hash === -1 || hash === value.length - 1) throw invalidRequest('no service id specified in proxy header')
  if (value.indexOf('#', hash + 1) !== -1) throw invalidRequest('invalid proxy header format')
  if (value.includes(' ')) throw invalidRequest('proxy header cannot contain spaces')
  return { did: value.slice(0, hash), serviceId: value.slice(hash + 1) }
}

/**
 * The audience a call is for (`did#service_id`): the header as given, else the method's default
 * service. Throws 400 when neither exists (as the official computeProxyTo).
 */
export function computeProxyTo(deps: Pick<ProxyTargetDeps, 'config'>, req: IncomingMessage, nsid: string): string {
  const header = proxyHeader(req)
  if (header) return header
  const { serviceId, service } = defaultService(deps.config, nsid)
  if (service) return `${service.did}#${serviceId}`
  throw invalidRequest(`No service configured for ${nsid}`)
}

/** The service a call goes to (official parseProxyInfo). */
export async function resolveProxyTarget(deps: ProxyTargetDeps, req: IncomingMessage, nsid: string): Promise<UpstreamTarget> {
  const header = proxyHeader(req)
  if (!header) {
    const { service } = defaultService(deps.config, nsid)
    if (!service) throw invalidRequest(`No service configured for ${nsid}`)
    return { did: service.did, url: service.url, trusted: true }
  }
  const { did, serviceId } = parseProxyHeader(header)
  // The configured AppView by its own name is reached at its configured URL.
  const appView = deps.config.bskyAppView
  if (appView && header === `${appView.did}#bsky_appview`) return { did, url: appView.url, trusted: true }
  let doc: DidDocument | null
  try {
    doc = await deps.didResolver.resolve(did)
  } catch {
    // A malformed, unsupported or unreachable DID: the client named a service that cannot be found.
    doc = null
  }
  if (!doc) throw invalidRequest('could not resolve proxy did')
  const url = getServiceEndpoint(doc, { id: `#${serviceId}` })
  if (!url) throw invalidRequest('could not resolve proxy did service url')
  return { did, url, trusted: false }
}
