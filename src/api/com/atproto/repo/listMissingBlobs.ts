// com.atproto.repo.listMissingBlobs: blobs the caller's records reference that were never
// uploaded here (what an account migration still has to copy), in CID order.
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function listMissingBlobs(s: Pick<Services, 'actors' | 'auth'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.repo.listMissingBlobs',
    // As the official: any access credential, deactivated accounts included (mid-migration).
    auth: s.auth.access(),
    handler: ({ auth, params }) => {
      const store = s.actors.get(auth.did)
      if (!store) throw invalidRequest(`Could not find repo for DID: ${auth.did}`, 'RepoNotFound')
      const cursor = params.cursor as string | undefined
      const blobs = store.blobs.listMissingBlobs({ cursor, limit: params.limit as number })
      return {
        encoding: 'application/json',
        body: { blobs, cursor: blobs.at(-1)?.cid },
      }
    },
  }
}
