// com.atproto.sync.getHead (deprecated): the current commit CID.
import type { Services } from '../../../../../services.ts'
import { invalidRequest } from '../../../../../errors.ts'
import type { XrpcMethod } from '../../../../../xrpc/types.ts'
import { availableStore } from '../util.ts'

export default function getHead(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getHead',
    auth: s.auth.optional(),
    handler: ({ params, auth }) => {
      const did = params.did as string
      const head = availableStore(s, auth, did).head()
      if (!head) throw invalidRequest(`Could not find root for DID: ${did}`, 'HeadNotFound')
      return { encoding: 'application/json', body: { root: head.cid.$link } }
    },
  }
}
