// com.atproto.identity.resolveIdentity: a handle or DID to its DID, DID document and verified
// handle (see identity-info.ts). A Hearth addition, like resolveDid.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { resolveIdentityInfo } from './identity-info.ts'

export default function resolveIdentity(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver' | 'handleResolver' | 'plc'>): XrpcMethod {
  return {
    nsid: 'com.atproto.identity.resolveIdentity',
    auth: s.auth.none,
    handler: async ({ params }) => {
      const info = await resolveIdentityInfo(s, params.identifier as string)
      return { encoding: 'application/json', body: info }
    },
  }
}
