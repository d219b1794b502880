// A JSON query to the configured AppView, for handlers that need an answer from it rather than
// a pass-through (read-after-write embeds and parents, getFeed's generator record; and for the
// official's fallbacks of com.atproto.identity.resolveHandle to the AppView).
import type { CoreServices } from '../core-services.ts'
import { serviceAuthJwt } from './pipethrough.ts'
import { type ProxyClient, readResponseBody } from './upstream.ts'

/**
 * GETs `/xrpc/<lxm>` on PDS_BSKY_APP_VIEW_URL, as `iss` (a service token for the AppView) or
 * unauthenticated; resolves with the parsed JSON, or null when no AppView is configured.
 * Rejects with the upstream's XRPC error (UpstreamError) or 502 UpstreamFailure.
 */
export async function appViewQuery(
  s: Pick<CoreServices, 'config' | 'actors'> & { proxy: ProxyClient },
  lxm: string,
  params: Record<string, string | number | boolean | undefined>,
  opts: { iss?: string } = {},
): Promise<Record<string, unknown> | null> {
  const appView = s.config.bskyAppView
  if (!appView) return null
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v))
  const qs = query.toString()
  const res = await s.proxy.request(
    { did: appView.did, url: appView.url, trusted: true },
    {
      method: 'GET',
      path: `/xrpc/${lxm}${qs ? `?${qs}` : ''}`,
      headers: {
        'accept-encoding': 'identity',
        authorization: opts.iss ? `Bearer ${serviceAuthJwt(s, opts.iss, appView.did, lxm)}` : undefined,
      },
    },
  )
  const body = await readResponseBody(res, s.proxy.maxResponseSize)
  return JSON.parse(body.toString('utf8')) as Record<string, unknown>
}
