// com.atproto.moderation.createReport: forwarded, with a service token, to the moderation
// service (PDS_REPORT_SERVICE_*, default PDS_MOD_SERVICE_*) or the one `atproto-proxy` names.
// A registered method rather than the generic proxy because, as in the official PDS, a
// taken-down account may still report (that is how it appeals).
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { assertRpcPermission } from '../../../../auth/permissions.ts'
import { postJsonUpstream } from '../../../../proxy/pipethrough.ts'
import { computeProxyTo, resolveProxyTarget } from '../../../../proxy/target.ts'
import { readResponseBody } from '../../../../proxy/upstream.ts'
import type { Services } from '../../../../services.ts'
import { XrpcError } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const NSID = 'com.atproto.moderation.createReport'

export default function createReport(s: Pick<Services, 'actors' | 'auth' | 'config' | 'didResolver' | 'proxy'>): XrpcMethod<AccessAuth> {
  const access = s.auth.access({ additional: ['com.atproto.takendown'] })
  return {
    nsid: NSID,
    auth: async (info) => {
      const auth = await access(info)
      assertRpcPermission(auth, NSID, computeProxyTo(s, info.req, NSID))
      return auth
    },
    handler: async ({ req, auth, input }) => {
      const target = await resolveProxyTarget(s, req, NSID)
      const res = await postJsonUpstream(s, target, NSID, auth.did, input)
      let body: unknown
      try {
        body = JSON.parse((await readResponseBody(res, s.proxy.maxResponseSize)).toString('utf8'))
      } catch {
        throw new XrpcError(502, 'UpstreamFailure', 'Upstream service returned an invalid response')
      }
      return { encoding: 'application/json', body }
    },
  }
}
