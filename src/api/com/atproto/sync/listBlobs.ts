// com.atproto.sync.listBlobs: CIDs of the blobs the repo's records reference, optionally only
// those of records written after `since`.
import { SCOPE_TAKENDOWN } from '../../../../auth/scopes.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { availableStore } from './util.ts'

export default function listBlobs(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.listBlobs',
    auth: s.auth.optional({ additional: [SCOPE_TAKENDOWN] }),
    handler: ({ params, auth }) => {
      const did = params.did as string
      const store = availableStore(s, auth, did)
      const cids = store.blobs.listBlobs({
        since: params.since as string | undefined,
        cursor: params.cursor as string | undefined,
        limit: params.limit as number,
      })
      const body: Record<string, unknown> = { cids }
      if (cids.length > 0) body.cursor = cids[cids.length - 1]
      return { encoding: 'application/json', body }
    },
  }
}
