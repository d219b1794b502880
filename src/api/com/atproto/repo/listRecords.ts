// com.atproto.repo.listRecords: a collection's records by rkey, newest first (or oldest first
// with `reverse`); the cursor is the last rkey returned. The answer is JSON text written from
// the record index and the stored CBOR (src/actor/record-listing.ts), never built as objects.
import { listRecordsJson } from '../../../../actor/record-listing.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function listRecords(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.repo.listRecords',
    auth: s.auth.none,
    handler: ({ params }) => {
      const repo = params.repo as string
      const collection = params.collection as string
      const limit = (params.limit as number | undefined) ?? 50
      const cursor = params.cursor as string | undefined
      const reverse = (params.reverse as boolean | undefined) ?? false
      const account = s.accounts.getAccountState(repo)
      const store = account ? s.actors.get(account.did) : null
      if (!account || !store) throw invalidRequest(`Could not find repo: ${repo}`)
      return { encoding: 'application/json', body: listRecordsJson(store.readDb, collection, { limit, cursor, reverse }) }
    },
  }
}
