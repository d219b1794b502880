// com.atproto.identity.resolveHandle, in the official order: our own accounts from the database;
// a handle under one of our domains that we do not host does not exist; any other handle is
// asked of the AppView when one is configured (its answer, or its failure, is final), else
// resolved here by DNS/HTTPS.
import { appViewQuery } from '../../../../proxy/appview.ts'
import type { Services } from '../../../../services.ts'
import { isValidDid } from '../../../../repo/syntax.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { normalizeHandleSyntax } from '../../../../actions/handle.ts'

// As the official 0.5 line: a handle under our own domains that no account holds is 400
// HandleNotFound (0.4.217 said InvalidRequest); a handle resolved elsewhere that fails stays
// 400 InvalidRequest.
const unresolved = () => invalidRequest('Unable to resolve handle')
const notOurs = () => invalidRequest('Unable to resolve handle', 'HandleNotFound')

export default function resolveHandle(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'handleResolver' | 'proxy'>): XrpcMethod {
  return {
    nsid: 'com.atproto.identity.resolveHandle',
    auth: s.auth.none,
    handler: async ({ params }) => {
      const handle = normalizeHandleSyntax(params.handle as string)
      const account = s.accounts.getAccount(handle)
      if (account) return { encoding: 'application/json', body: { did: account.did } }
      const ours = s.config.identity.serviceHandleDomains.some((d) => handle.endsWith(d) || handle === d.slice(1))
      if (ours) throw notOurs()
      let did: unknown
      if (s.config.bskyAppView) {
        const answer = await appViewQuery(s, 'com.atproto.identity.resolveHandle', { handle }).catch(() => null)
        did = answer?.did
      } else {
        did = await s.handleResolver.resolve(handle).catch(() => undefined)
      }
      if (typeof did !== 'string' || !isValidDid(did)) throw unresolved()
      return { encoding: 'application/json', body: { did } }
    },
  }
}
