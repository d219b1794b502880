// com.atproto.identity.signPlcOperation: the old PDS's half of a migration. With the code that
// requestPlcOperationSignature emailed, it signs — with this PDS's rotation key — an update of
// the account's DID document to the fields given (the rest kept), and returns it unsubmitted:
// the new PDS checks and submits it (submitPlcOperation there).
import { ACCESS_FULL, SCOPE_TAKENDOWN } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { assureValidOp, updateOp } from '../../../../identity/plc-ops.ts'
import { isTombstone } from '../../../../identity/plc-lib.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { type PlcFieldsInput, plcChangesFromInput } from './plc-input.ts'

export default function signPlcOperation(s: Pick<Services, 'accounts' | 'auth' | 'plc' | 'plcRotationKey'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.identity.signPlcOperation',
    // The same rule as requestPlcOperationSignature: a taken-down account may still leave.
    auth: s.auth.access({ scopes: ACCESS_FULL, additional: [SCOPE_TAKENDOWN] }),
    handler: async ({ auth, input }) => {
      const body = input as PlcFieldsInput & { token?: string }
      if (!body.token) throw invalidRequest('email confirmation token required to sign PLC operations')
      s.accounts.assertValidEmailToken(auth.did, 'plc_operation', body.token)
      // Refusals that come after the code is checked but before it is spent: the user keeps it.
      if (!auth.did.startsWith('did:plc:')) throw invalidRequest('Only did:plc identities have PLC operations')
      const changes = plcChangesFromInput(body)
      const lastOp = await s.plc.getLastOp(auth.did)
      if (isTombstone(lastOp)) throw invalidRequest('Did is tombstoned')
      const operation = await updateOp(lastOp, s.plcRotationKey, changes)
      try {
        await assureValidOp(operation)
      } catch (err) {
        throw invalidRequest(`Invalid operation: ${(err as Error).message}`)
      }
      // Checked again and deleted at once, so two concurrent requests cannot both use it.
      s.accounts.consumeEmailToken(auth.did, 'plc_operation', body.token)
      return { encoding: 'application/json', body: { operation } }
    },
  }
}
