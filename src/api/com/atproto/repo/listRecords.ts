// com.atproto.repo.listRecords: a collection's records by rkey, newest first (or oldest first
// with `reverse`); the cursor is the last rkey returned. The answer is written as JSON text
// straight from the stored CBOR (`src/repo/cbor-json.ts`), never built as objects.
import type { Services } from '../../../../services.ts'
import { JsonOut, writeRecordJson } from '../../../../repo/cbor-json.ts'
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
      const account = s.accounts.getAccount(repo)
      const store = account ? s.actors.get(account.did) : null
      if (!account || !store) throw invalidRequest(`Could not find repo: ${repo}`)
      const rows = store.listRecords(collection, { limit, cursor, reverse })
      let size = 64
      for (const r of rows) size += r.uri.length + r.cid.length + r.content.length * 2 + 32
      const out = new JsonOut(size)
      out.raw('{"records":[')
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]
        out.raw(i === 0 ? '{"uri":' : ',{"uri":')
        out.string(r.uri)
        out.raw(',"cid":')
        out.string(r.cid)
        out.raw(',"value":')
        writeRecordJson(r.content, out)
        out.raw('}')
      }
      out.raw(']')
      if (rows.length > 0) {
        out.raw(',"cursor":')
        out.string(rows[rows.length - 1].rkey)
      }
      out.raw('}')
      return { encoding: 'application/json', body: out.bytes() }
    },
  }
}
