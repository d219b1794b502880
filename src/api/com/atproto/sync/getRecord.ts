// com.atproto.sync.getRecord: a proof CAR (signed commit, the MST path to the key, the record if
// present). An absent record gets a proof of absence, as the official does, not an error.
import { carToBytes } from '../../../../repo/car/index.ts'
import { recordProofBlocks } from '../../../../repo/record-proof.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { availableStore } from './util.ts'

export default function getRecord(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getRecord',
    auth: s.auth.optional(),
    handler: ({ params, auth }) => {
      const did = params.did as string
      const store = availableStore(s, auth, did)
      // Synchronous reads on the store's connection: head and proof come from one state.
      const head = store.head()
      if (!head) throw invalidRequest(`Could not find repo for DID: ${did}`)
      const blocks = recordProofBlocks(store, head.cid, `${params.collection as string}/${params.rkey as string}`)
      return { encoding: 'application/vnd.ipld.car', body: carToBytes(head.cid, blocks) }
    },
  }
}
