// GET /tls-check?domain=…: the question Caddy's on-demand TLS asks before ordering a certificate
// for a name it has none for (`on_demand_tls { ask … }` in the official installer's Caddyfile).
// Answered as the official PDS's service answers it, so an existing Caddyfile works unchanged:
// yes for this service's hostname and for the handle of an active account hosted here; 400 for
// no domain or one outside the service handle domains; 404 for a handle nobody here holds. Only
// names this PDS serves get a certificate, so a stranger's DNS cannot spend the ACME rate limit.
import type { CoreServices } from '../core-services.ts'
import type { XrpcServer } from '../xrpc/server.ts'
import { sendJson } from './basic-routes.ts'

export function registerTlsCheck(server: XrpcServer, services: Pick<CoreServices, 'config' | 'accounts'>): void {
  const { hostname } = services.config.service
  const domains = services.config.identity.serviceHandleDomains
  server.addRoute('GET', '/tls-check', ({ req, res }) => {
    const query = (req.url ?? '').split('?')[1] ?? ''
    const domain = new URLSearchParams(query).get('domain')?.toLowerCase()
    if (!domain) {
      return sendJson(res, 400, { error: 'InvalidRequest', message: 'bad or missing domain query param' })
    }
    if (domain === hostname) return sendJson(res, 200, { success: true })
    if (!domains.some((d) => domain.endsWith(d))) {
      return sendJson(res, 400, { error: 'InvalidRequest', message: 'handles are not provided on this domain' })
    }
    // Taken-down and deactivated accounts are left out, as the official lookup leaves them out.
    if (!services.accounts.getAccount(domain)) {
      return sendJson(res, 404, { error: 'NotFound', message: 'handle not found for this domain' })
    }
    sendJson(res, 200, { success: true })
  })
}
