// com.atproto.admin.deleteAccount (admin): removes the account entirely (rows, repo, blobs),
// sequences #account deleted and drops its earlier events, as official. An unknown DID is not an
// error (the official does the same work and answers 200).
import { removeAccount } from '../../../../actions/delete-account.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function deleteAccount(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'sequencer'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.deleteAccount',
    auth: s.auth.admin,
    handler: async ({ input }) => {
      await removeAccount(s, (input as { did: string }).did)
    },
  }
}
