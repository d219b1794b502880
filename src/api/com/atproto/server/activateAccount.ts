// com.atproto.server.activateAccount: ends a deactivation (or finishes a move in), once the
// DID document names this PDS (src/actions/account-state.ts).
import { activateAccount as activate } from '../../../../actions/account-state.ts'
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function activateAccount(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'plc' | 'plcRotationKey' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.activateAccount',
    auth: s.auth.access({ scopes: ACCESS_FULL }),
    handler: async ({ auth }) => {
      await activate(s, auth.did)
    },
  }
}
