// Which email addresses the PDS accepts for an account: the one check behind createAccount,
// updateEmail, requestPasswordReset and admin updateAccountEmail.
//
// Stricter than "one @ and no spaces" on purpose. An address is later handed to the mailer as a
// recipient, and mail libraries read a recipient string as an address *list*: a comma, a quote,
// angle brackets, a NUL or a line break in it could make one account's address several
// recipients (`x,attacker@evil.example`) or smuggle a header. So the local part is RFC 5322
// dot-atom text only (atext, single dots inside, no quoted strings, comments or non-ASCII), and
// the domain is dot-separated hostname labels whose last label is not all digits (no IP
// literals). This is what the official PDS's check accepts, less its quoted and non-ASCII forms.
const ATEXT = "[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
const LOCAL = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`, 'i')
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const DOMAIN = new RegExp(`^(?:${LABEL}\\.)+(?=[a-z0-9-]*[a-z])${LABEL}$`, 'i')

/** Whether `email` is an address Hearth stores and mails to. */
export function isSupportedEmail(email: string): boolean {
  if (email.length > 254) return false
  const at = email.lastIndexOf('@')
  if (at < 1) return false
  const local = email.slice(0, at)
  const domain = email.slice(at + 1)
  return local.length <= 64 && domain.length <= 253 && LOCAL.test(local) && DOMAIN.test(domain)
}

/** The official's answer (400 InvalidRequest) to an address it will not take. */
export const UNSUPPORTED_EMAIL_MESSAGE = 'This email address is not supported, please use a different email.'
