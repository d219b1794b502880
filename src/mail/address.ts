// Which email addresses the PDS accepts for an account (the same shape createAccount checks).
const EMAIL = /^[^\s@]{1,64}@(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i

export function isSupportedEmail(email: string): boolean {
  return EMAIL.test(email)
}
