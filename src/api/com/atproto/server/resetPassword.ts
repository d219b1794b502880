// com.atproto.server.resetPassword: sets a new password with a `reset_password` code. As
// official, every session of the account ends (refresh tokens revoked, so its access tokens
// stop working too); app passwords stay.
import { NEW_PASSWORD_MAX_LENGTH } from '../../../../auth/password.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function resetPassword(s: Pick<Services, 'auth' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.resetPassword',
    auth: s.auth.none,
    rateLimits: [{ name: 'reset-password-5m', durationMs: 5 * 60_000, points: 50 }],
    handler: async ({ input }) => {
      const { token, password } = input as { token: string; password: string }
      if (password.length > NEW_PASSWORD_MAX_LENGTH) throw invalidRequest('Invalid password length.')
      await s.sessions.resetPassword(token, password)
    },
  }
}
