// /.well-known routes: a handle's DID by Host header (for handles under the service domains),
// and the service's own did:web document.
import type { CoreServices } from '../core-services.ts'
import type { XrpcServer } from '../xrpc/server.ts'
import { sendJson, sendText } from './basic-routes.ts'

export function registerWellKnown(server: XrpcServer, s: Pick<CoreServices, 'accounts' | 'config'>): void {
  const domains = s.config.identity.serviceHandleDomains
  server.addRoute('GET', '/.well-known/atproto-did', ({ req, res }) => {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '')
    if (!domains.some((d) => host.endsWith(d.toLowerCase()))) return sendText(res, 404, 'User not found')
    const account = s.accounts.getAccount(host)
    if (!account) return sendText(res, 404, 'User not found')
    sendText(res, 200, account.did)
  })
  server.addRoute('GET', '/.well-known/did.json', ({ res }) => {
    const did = s.config.service.did
    if (!did.startsWith('did:web:')) return sendText(res, 404, 'Not Found')
    sendJson(res, 200, {
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: did,
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: s.config.service.publicUrl }],
    })
  })
}
