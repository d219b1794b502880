// com.atproto.identity.submitPlcOperation: the new PDS's half of a migration (or any signed
// update of a hosted did:plc). The operation must leave the identity servable from here: our
// rotation key kept, `atproto_pds` pointing at us, the repo key we hold as `atproto`, and the
// account's handle first in alsoKnownAs. Then it goes to the directory, relays get `#identity`,
// and the cached document is refreshed.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { PlcRequestError } from '../../../../identity/errors.ts'
import { ATPROTO_PDS_SERVICE_TYPE, isOperationOrTombstone, type PlcOperation } from '../../../../identity/plc-ops.ts'
import { announceIdentityChange } from '../../../../actions/account-state.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

function isOperation(value: unknown): value is PlcOperation {
  return isOperationOrTombstone(value) && (value as { type: string }).type === 'plc_operation'
}

export default function submitPlcOperation(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'plc' | 'plcRotationKey' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.identity.submitPlcOperation',
    auth: s.auth.access(),
    handler: async ({ auth, input }) => {
      const did = auth.did
      const op = (input as { operation: unknown }).operation
      if (!isOperation(op)) throw invalidRequest('Invalid operation')
      if (!op.rotationKeys.includes(s.plcRotationKey.did())) {
        throw invalidRequest("Rotation keys do not include server's rotation key")
      }
      const pds = op.services.atproto_pds
      if (pds?.type !== ATPROTO_PDS_SERVICE_TYPE) throw invalidRequest('Incorrect type on atproto_pds service')
      if (pds.endpoint !== s.config.service.publicUrl) throw invalidRequest('Incorrect endpoint on atproto_pds service')
      const store = s.actors.get(did)
      if (!store || op.verificationMethods.atproto !== store.keypair().did()) throw invalidRequest('Incorrect signing key')
      const account = s.accounts.getAccount(did, { includeDeactivated: true })
      if (account?.handle && op.alsoKnownAs[0] !== `at://${account.handle}`) {
        throw invalidRequest('Incorrect handle in alsoKnownAs')
      }
      if (!did.startsWith('did:plc:')) throw invalidRequest('Only did:plc identities have PLC operations')
      try {
        await s.plc.sendOperation(did, op)
      } catch (err) {
        // The directory's refusal (bad signature, wrong prev, …) is the user's to fix.
        if (err instanceof PlcRequestError) throw invalidRequest(`PLC directory refused the operation: ${err.message}`)
        throw err
      }
      await announceIdentityChange(s, did)
    },
  }
}
