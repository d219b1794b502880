// com.atproto.identity.getRecommendedDidCredentials: what an account moving in should put in its
// DID document so that this PDS can serve it — our rotation key (after the operator's recovery
// key), its handle, the repo signing key we hold for it, and our endpoint.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { ATPROTO_PDS_SERVICE_TYPE } from '../../../../identity/plc-ops.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function getRecommendedDidCredentials(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'plcRotationKey'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.identity.getRecommendedDidCredentials',
    // As official: any session, deactivated accounts included (they are the ones migrating in).
    auth: s.auth.access(),
    handler: ({ auth }) => {
      const store = s.actors.get(auth.did)
      if (!store) throw invalidRequest('Account has no repository')
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true })
      const rotationKeys = [s.plcRotationKey.did()]
      if (s.config.identity.recoveryDidKey) rotationKeys.unshift(s.config.identity.recoveryDidKey)
      return {
        encoding: 'application/json',
        body: {
          ...(account?.handle ? { alsoKnownAs: [`at://${account.handle}`] } : {}),
          verificationMethods: { atproto: store.keypair().did() },
          rotationKeys,
          services: { atproto_pds: { type: ATPROTO_PDS_SERVICE_TYPE, endpoint: s.config.service.publicUrl } },
        },
      }
    },
  }
}
