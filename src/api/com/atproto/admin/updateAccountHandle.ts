// com.atproto.admin.updateAccountHandle (admin): the operator's handle change, through the same
// path as identity.updateHandle (src/account/handle.ts) with the official `allowAnyValid`:
// reserved service-domain names are allowed; the length rules, TLD check, uniqueness and (for
// another domain) proof of control still hold. For did:plc the PDS updates the DID document with
// its rotation key; then the row, then #identity.
import { updateAccountHandle as changeHandle } from '../../../../actions/handle.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function updateAccountHandle(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver' | 'handleResolver' | 'logger' | 'plc' | 'plcRotationKey' | 'sequencer'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.updateAccountHandle',
    auth: s.auth.admin,
    handler: async ({ input }) => {
      const { did, handle } = input as { did: string; handle: string }
      await changeHandle(s, did, handle, { allowAnyValid: true })
    },
  }
}
