// com.atproto.sync.getCheckout (deprecated): the whole repo as a CAR, as getRepo without `since`.
import type { Services } from '../../../../../services.ts'
import type { XrpcMethod } from '../../../../../xrpc/types.ts'
import { repoCarStream } from '../getRepo.ts'
import { availableStore } from '../util.ts'

export default function getCheckout(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getCheckout',
    auth: s.auth.optional(),
    handler: ({ params, auth }) => {
      const did = params.did as string
      availableStore(s, auth, did)
      return { encoding: 'application/vnd.ipld.car', body: repoCarStream(s, did) }
    },
  }
}
