// com.atproto.sync.getRepo: the whole repo (or the blocks after `since`) as a CAR, streamed
// from a snapshot with backpressure, so memory stays flat whatever the repo's size. The blocks
// come from one scan of the block table (RepoSnapshot.allBlocks), as the official serves them.
import { writeCar } from '../../../../repo/car/index.ts'
import { SCOPE_TAKENDOWN } from '../../../../auth/scopes.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { availableStore } from './util.ts'

/** The CAR of `did`'s repo; the snapshot opens on the first read, so a missing head is still a proper error response. */
export async function* repoCarStream(s: Pick<Services, 'actors'>, did: string, since?: string): AsyncGenerator<Uint8Array> {
  const snapshot = s.actors.snapshot(did)
  try {
    const head = snapshot.head
    if (!head) throw invalidRequest(`Could not find repo for DID: ${did}`)
    const blocks = since === undefined ? snapshot.allBlocks() : snapshot.blocksSince(since)
    yield* writeCar(head.cid, blocks)
  } finally {
    snapshot.close()
  }
}

export default function getRepo(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getRepo',
    auth: s.auth.optional({ additional: [SCOPE_TAKENDOWN] }),
    handler: ({ params, auth }) => {
      const did = params.did as string
      availableStore(s, auth, did)
      return { encoding: 'application/vnd.ipld.car', body: repoCarStream(s, did, params.since as string | undefined) }
    },
  }
}
