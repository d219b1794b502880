// com.atproto.server.deleteAccount: removes the account for good, given its password and the
// emailed `delete_account` code. No session needed (as official): the two secrets are the proof.
import { removeAccount } from '../../../../actions/delete-account.ts'
import { OLD_PASSWORD_MAX_LENGTH } from '../../../../auth/password.ts'
import type { Services } from '../../../../services.ts'
import { authRequired, invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function deleteAccount(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'sequencer' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.deleteAccount',
    auth: s.auth.none,
    rateLimits: [{ name: 'delete-account-5m', durationMs: 5 * 60_000, points: 50 }],
    handler: async ({ input }) => {
      const { did, password, token } = input as { did: string; password: string; token: string }
      const account = s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
      if (!account) throw invalidRequest('account not found')
      if (password.length > OLD_PASSWORD_MAX_LENGTH) throw invalidRequest('Invalid password length.')
      if (!(await s.sessions.verifyAccountPassword(did, password))) throw authRequired('Invalid did or password')
      s.accounts.assertValidEmailToken(did, 'delete_account', token)
      await removeAccount(s, did)
    },
  }
}
