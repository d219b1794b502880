// com.atproto.repo.getRecord: a record of a repo hosted here; for a repo hosted elsewhere the
// call goes on to the AppView (or the `atproto-proxy` service), unauthenticated, as official.
import { pipethrough, streamOutput } from '../../../../proxy/pipethrough.ts'
import type { Services } from '../../../../services.ts'
import { lexToJson } from '../../../../repo/data-model.ts'
import { decodeCbor } from '../../../../repo/cbor.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function getRecord(s: Services): XrpcMethod {
  return {
    nsid: 'com.atproto.repo.getRecord',
    auth: s.auth.none,
    handler: async (ctx) => {
      const { params } = ctx
      const repo = params.repo as string
      const collection = params.collection as string
      const rkey = params.rkey as string
      const cid = params.cid as string | undefined
      const account = s.accounts.getAccount(repo)
      if (!account) {
        if (!s.config.bskyAppView) throw invalidRequest('Could not locate record')
        return streamOutput(await pipethrough(s, ctx))
      }
      const store = s.actors.get(account.did)
      const uri = `at://${account.did}/${collection}/${rkey}`
      const row = store?.getRecord(collection, rkey)
      if (!row || row.takedownRef !== null || (cid !== undefined && row.cid.$link !== cid)) {
        throw invalidRequest(`Could not locate record: ${uri}`, 'RecordNotFound')
      }
      return {
        encoding: 'application/json',
        body: { uri, cid: row.cid.$link, value: lexToJson(decodeCbor(row.content)) },
      }
    },
  }
}
