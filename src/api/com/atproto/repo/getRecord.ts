// com.atproto.repo.getRecord: a record of a repo hosted here; for a repo hosted elsewhere the
// call goes on to the AppView (or the `atproto-proxy` service), unauthenticated, as official.
import { recordJson } from '../../../../actor/record-listing.ts'
import { pipethrough, streamOutput } from '../../../../proxy/pipethrough.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function getRecord(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>): XrpcMethod {
  return {
    nsid: 'com.atproto.repo.getRecord',
    auth: s.auth.none,
    // Not async: a record read here is answered synchronously (no promise, no microtask turn).
    handler: (ctx) => {
      const { params } = ctx
      const repo = params.repo as string
      const collection = params.collection as string
      const rkey = params.rkey as string
      const cid = params.cid as string | undefined
      const account = s.accounts.getAccountState(repo)
      if (!account) {
        if (!s.config.bskyAppView) throw invalidRequest('Could not locate record')
        return pipethrough(s, ctx).then(streamOutput)
      }
      const store = s.actors.get(account.did)
      const uri = `at://${account.did}/${collection}/${rkey}`
      // JSON text written straight from the stored CBOR (src/actor/record-listing.ts).
      const body = store ? recordJson(store.readDb, uri, cid) : null
      if (body === null) throw invalidRequest(`Could not locate record: ${uri}`, 'RecordNotFound')
      return { encoding: 'application/json', body }
    },
  }
}
