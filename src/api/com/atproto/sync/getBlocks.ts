// com.atproto.sync.getBlocks: a root-less CAR of the requested blocks, all or nothing.
import { BlockMap } from '../../../../repo/block-map.ts'
import { carToBytes } from '../../../../repo/car/index.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { availableStore, paramCid } from './util.ts'

export default function getBlocks(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getBlocks',
    auth: s.auth.optional(),
    handler: ({ params, auth }) => {
      const did = params.did as string
      const store = availableStore(s, auth, did)
      const cids = ((params.cids as string[] | undefined) ?? []).map(paramCid)
      const blocks = new BlockMap()
      const missing: string[] = []
      for (const cid of cids) {
        const bytes = store.getBlock(cid)
        if (bytes) blocks.set(cid, bytes)
        else missing.push(cid.$link)
      }
      // The official names no error here (InvalidRequest), though the lexicon offers BlockNotFound.
      if (missing.length > 0) throw invalidRequest(`Could not find cids: ${missing.join(',')}`)
      return { encoding: 'application/vnd.ipld.car', body: carToBytes(null, blocks) }
    },
  }
}
