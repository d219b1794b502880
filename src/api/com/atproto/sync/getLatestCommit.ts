// com.atproto.sync.getLatestCommit: the current commit CID and rev.
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { availableStore } from './util.ts'

export default function getLatestCommit(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getLatestCommit',
    auth: s.auth.optional(),
    handler: ({ params, auth }) => {
      const did = params.did as string
      const head = availableStore(s, auth, did).head()
      if (!head) throw invalidRequest(`Could not find root for DID: ${did}`, 'RepoNotFound')
      return { encoding: 'application/json', body: { cid: head.cid.$link, rev: head.rev } }
    },
  }
}
