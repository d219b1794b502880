// com.atproto.server.requestPasswordReset: emails a `reset_password` code to an account's address.
//
// Deviation from the official PDS, which answers 400 "account does not have an email address"
// for an unknown address and so tells anyone which addresses have accounts here: Hearth answers
// the same empty 200 either way, and sends the mail after answering, so that the time taken does
// not tell either. A delivery failure is logged by the mailer.
import { isSupportedEmail, UNSUPPORTED_EMAIL_MESSAGE } from '../../../../mail/address.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const HOUR = 60 * 60_000

export default function requestPasswordReset(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.requestPasswordReset',
    auth: s.auth.none,
    rateLimits: [
      { name: 'request-password-reset-day', durationMs: 24 * HOUR, points: 50 },
      { name: 'request-password-reset-hour', durationMs: HOUR, points: 15 },
    ],
    handler: ({ input }) => {
      const { email } = input as { email: string }
      // Judged on its shape alone, so the refusal says nothing about who has an account here.
      if (!isSupportedEmail(email)) throw invalidRequest(UNSUPPORTED_EMAIL_MESSAGE)
      const account = s.accounts.getAccountByEmail(email, { includeDeactivated: true, includeTakenDown: true })
      if (!account?.email) return
      const token = s.accounts.createEmailToken(account.did, 'reset_password')
      s.mailer.sendResetPassword({ token, handle: account.handle ?? account.email }, { to: account.email }).catch(() => {
        // Already logged by the mailer; nobody is waiting for the answer.
      })
    },
  }
}
