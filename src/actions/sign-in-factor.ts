// Email two-factor sign-in (official 0.5.36): after the password, an account that turned the
// factor on must also give a code mailed to its confirmed address. Shared by createSession and
// the OAuth sign-in pages; app-password sign-ins skip it, as official.
import type { AccountRow } from '../account/accounts.ts'
import type { CoreServices } from '../core-services.ts'
import { XrpcError } from '../errors.ts'

export const AUTH_FACTOR_REQUIRED_MESSAGE = 'A sign in code has been sent to your email address'

/** Why a password sign-in cannot finish yet: a code was just mailed (to `hint`, obfuscated). */
export class AuthFactorRequired extends XrpcError {
  constructor(readonly hint: string) {
    super(401, 'AuthFactorTokenRequired', AUTH_FACTOR_REQUIRED_MESSAGE)
  }
}

/**
 * The second step of a sign-in whose password was right. With a code: it must be the account's
 * live `auth_factor` code (400 InvalidToken / ExpiredToken otherwise), and it is used up,
 * whether or not the factor is on (as official). Without one, for an account with the factor
 * on and signing in with its own password: a fresh code is mailed and AuthFactorRequired thrown.
 */
export async function checkSignInFactor(
  s: Pick<CoreServices, 'accounts' | 'mailer'>,
  account: AccountRow,
  usedAppPassword: boolean,
  code: string | undefined,
): Promise<void> {
  if (code) {
    s.accounts.consumeEmailToken(account.did, 'auth_factor', code.trim())
    return
  }
  if (usedAppPassword || !account.email || !s.accounts.getEmailAuthFactor(account.did)) return
  const token = s.accounts.createEmailToken(account.did, 'auth_factor')
  await s.mailer.sendSignInAuthFactor({ token, handle: account.handle }, { to: account.email })
  throw new AuthFactorRequired(obfuscateEmail(account.email))
}

/** Like the official obfuscateEmail: `a***e@e***m`, enough to recognise one's own address. */
export function obfuscateEmail(email: string): string {
  const word = (w: string) => (w.length === 0 ? '' : `${w[0]}***${w[w.length - 1]}`)
  const at = email.lastIndexOf('@')
  return at < 0 ? word(email) : `${word(email.slice(0, at))}@${word(email.slice(at + 1))}`
}
