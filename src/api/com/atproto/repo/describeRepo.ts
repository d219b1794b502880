// com.atproto.repo.describeRepo: the account's handle, DID document and collections.
import { getHandle } from '../../../../identity/did-doc.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function describeRepo(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'didResolver'>): XrpcMethod {
  return {
    nsid: 'com.atproto.repo.describeRepo',
    auth: s.auth.none,
    handler: async ({ params }) => {
      const repo = params.repo as string
      // As the official assertRepoAvailability (not admin or self).
      const account = s.accounts.getAccount(repo, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw invalidRequest(`Could not find repo for DID: ${repo}`, 'RepoNotFound')
      if (account.takedownRef) throw invalidRequest(`Repo has been takendown: ${repo}`, 'RepoTakendown')
      if (account.deactivatedAt) throw invalidRequest(`Repo has been deactivated: ${repo}`, 'RepoDeactivated')
      let didDoc
      try {
        didDoc = await s.didResolver.ensureResolve(account.did)
      } catch (err) {
        throw invalidRequest(`Could not resolve DID: ${err instanceof Error ? err.message : String(err)}`)
      }
      const handle = getHandle(didDoc)
      const store = s.actors.get(account.did)
      return {
        encoding: 'application/json',
        body: {
          handle: account.handle ?? 'handle.invalid',
          did: account.did,
          didDoc,
          collections: store ? store.collections() : [],
          handleIsCorrect: handle !== undefined && handle === account.handle,
        },
      }
    },
  }
}
