// com.atproto.server.checkAccountStatus: how far an account moving in has got (repo, records,
// blobs) and whether its DID document points here yet.
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { isValidDidDocForService } from './util.ts'

export default function checkAccountStatus(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'plc' | 'plcRotationKey'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.checkAccountStatus',
    auth: s.auth.accessStandard,
    handler: async ({ auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const did = auth.did
      const store = s.actors.get(did)
      const head = store?.head()
      if (!store || !head) throw invalidRequest(`Could not find root for DID: ${did}`)
      const counts = store.counts()
      const body = {
        activated: isActivated(s, did),
        validDid: await isValidDidDocForService(s, did),
        repoCommit: head.cid.$link,
        repoRev: head.rev,
        repoBlocks: counts.blocks,
        indexedRecords: counts.records,
        privateStateValues: 0,
        expectedBlobs: store.blobs.recordBlobCount(),
        importedBlobs: store.blobs.blobCount(),
      }
      return { encoding: 'application/json', body }
    },
  }
}

function isActivated(s: Pick<Services, 'accounts'>, did: string): boolean {
  const account = s.accounts.getAccount(did, { includeDeactivated: true })
  return !!account && !account.deactivatedAt
}
