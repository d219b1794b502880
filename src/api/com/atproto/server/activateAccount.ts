// com.atproto.server.activateAccount: ends a deactivation (or finishes a move in), once the
// DID document names this PDS. As official, it over-emits for relays' sake: `#account`,
// `#identity` and a `#sync` with the current commit.
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../auth/types.ts'
import { getPdsEndpoint, getSigningKey } from '../../../../identity/did-doc.ts'
import { accountEvent, identityEvent, syncEvent } from '../../../../sequencer/events.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const INVALID_HANDLE = 'handle.invalid'

export default function activateAccount(s: Services): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.activateAccount',
    auth: s.auth.access({ scopes: ACCESS_FULL }),
    handler: async ({ auth }) => {
      const did = auth.did
      await assertValidDidDocumentForService(s, did)
      const account = s.accounts.getAccount(did, { includeDeactivated: true })
      if (!account) throw invalidRequest('user not found', 'AccountNotFound')
      // Read before changing anything, so that a missing repo leaves the account as it was.
      const store = s.actors.get(did)
      const head = store?.head()
      const commitBytes = head ? store?.getBlock(head.cid) : undefined
      if (!head || !commitBytes) throw invalidRequest(`Could not find root for DID: ${did}`)
      s.accounts.activateAccount(did)
      s.sequencer.append([
        accountEvent(did, s.accounts.getAccountStatus(did)),
        identityEvent(did, account.handle ?? INVALID_HANDLE),
        syncEvent(did, head.rev, head.cid, commitBytes),
      ])
    },
  }
}

/** The official check with its messages: the DID document must make this PDS the account's home. */
async function assertValidDidDocumentForService(s: Services, did: string): Promise<void> {
  let pds: string | undefined
  let signingKey: string | undefined
  if (did.startsWith('did:plc:')) {
    const data = await s.plc.getDocumentData(did)
    if (!data.rotationKeys.includes(s.plcRotationKey.did())) {
      throw invalidRequest('Server rotation key not included in PLC DID data')
    }
    pds = data.services.atproto_pds?.endpoint
    signingKey = data.verificationMethods.atproto
  } else {
    const doc = await s.didResolver.resolve(did, true)
    if (!doc) throw invalidRequest('Could not resolve DID')
    pds = getPdsEndpoint(doc)
    signingKey = getSigningKey(doc)
  }
  if (!pds || pds !== s.config.service.publicUrl) {
    throw invalidRequest('DID document atproto_pds service endpoint does not match PDS public url')
  }
  const keypair = s.actors.get(did)?.keypair()
  if (!signingKey || !keypair || signingKey !== keypair.did()) {
    throw invalidRequest('DID document verification method does not match expected signing key')
  }
}
