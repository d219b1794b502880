// com.atproto.server.updateEmail: sets a new, unconfirmed email; a confirmed current address
// must first approve the change with an `update_email` code. With the current address and
// `emailAuthFactor` it instead turns email two-factor sign-in on or off (official 0.5.36):
// turning it on needs the address confirmed and nothing else; turning it off needs an
// `update_email` code (without one, a code is mailed and the answer is 400 TokenRequired), so a
// stolen session cannot quietly drop the second factor. A new address turns the factor off.
import { AccountConflictError } from '../../../../account/errors.ts'
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { isSupportedEmail, UNSUPPORTED_EMAIL_MESSAGE } from '../../../../mail/address.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const CONFIRMED_EMAIL_REQUIRED = 'A confirmed email address is required to enable email-based two-factor authentication'

export default function updateEmail(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.server.updateEmail',
    auth: s.auth.access({ scopes: ACCESS_FULL, checkTakedown: true }),
    handler: async ({ auth, input }) => {
      const { email, token, emailAuthFactor } = input as { email: string; token?: string; emailAuthFactor?: boolean }
      if (!isSupportedEmail(email)) throw invalidRequest(UNSUPPORTED_EMAIL_MESSAGE)
      const account = s.accounts.getAccount(auth.did, { includeDeactivated: true, includeTakenDown: true })
      if (!account) throw invalidRequest('account not found')
      const sameEmail = account.email !== null && account.email === email.toLowerCase()

      if (sameEmail && emailAuthFactor !== undefined) {
        if (emailAuthFactor) {
          if (!account.emailConfirmedAt || !s.accounts.enableEmailAuthFactor(auth.did, account.email!)) {
            throw invalidRequest(CONFIRMED_EMAIL_REQUIRED)
          }
          return
        }
        if (!s.accounts.getEmailAuthFactor(auth.did)) return // already off
        if (!token) {
          const code = s.accounts.createEmailToken(auth.did, 'update_email')
          await s.mailer.sendUpdateEmail({ token: code, handle: account.handle }, { to: account.email! })
          throw invalidRequest('confirmation token required', 'TokenRequired')
        }
        s.accounts.disableEmailAuthFactor(auth.did, token)
        return
      }
      if (emailAuthFactor === true) {
        // A new address starts unconfirmed, which turns the factor off: enabling it in the same
        // call could not hold, so say so rather than ignore it (as official).
        throw invalidRequest('Please change and verify your email before enabling OTP')
      }

      if (account.emailConfirmedAt) {
        if (!token) throw invalidRequest('confirmation token required', 'TokenRequired')
        s.accounts.assertValidEmailToken(auth.did, 'update_email', token)
      }
      try {
        // Also drops every email token of the account, this one included (a code works once),
        // and turns email two-factor sign-in off.
        s.accounts.updateEmail(auth.did, email)
      } catch (err) {
        if (err instanceof AccountConflictError) {
          throw invalidRequest('This email address is already in use, please use a different email.')
        }
        throw err
      }
    },
  }
}
