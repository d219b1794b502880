// com.atproto.server.deactivateAccount: the user pauses their account (e.g. while moving it
// away). Its repo stops being served to others and writes are refused until activateAccount;
// the firehose hears `#account` {active: false, status: deactivated}. An OAuth session may do it
// with account:status?action=manage (official 0.5); since a deactivated account cannot sign in
// through OAuth, that also ends every OAuth session and app password, as official.
import { isOAuth } from '../../../../auth/permissions.ts'
import { ACCESS_FULL, SCOPE_TAKENDOWN } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { deactivateAccount as deactivate } from '../../../../actions/account-state.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function deactivateAccount(s: Pick<Services, 'accounts' | 'auth' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.deactivateAccount',
    // As official, a taken-down account may deactivate too (its status stays `takendown`).
    auth: s.auth.access({ scopes: ACCESS_FULL, additional: [SCOPE_TAKENDOWN] }),
    handler: ({ auth, input }) => {
      const { deleteAfter } = (input ?? {}) as { deleteAfter?: string }
      // Recorded as official; nothing deletes the account when the time comes.
      if (isOAuth(auth)) s.accounts.deleteDelegatedCredentials(auth.did)
      deactivate(s, auth.did, deleteAfter ?? null)
    },
  }
}
