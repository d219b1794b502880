// The legacy session scopes and the official PDS's groups of them (auth-scope.ts there).
import type { AccessScope } from '../xrpc/auth-result.ts'

export const SCOPE_ACCESS = 'com.atproto.access'
export const SCOPE_APP_PASS_PRIVILEGED = 'com.atproto.appPassPrivileged'
export const SCOPE_APP_PASS = 'com.atproto.appPass'
export const SCOPE_TAKENDOWN = 'com.atproto.takendown'
export const SCOPE_SIGNUP_QUEUED = 'com.atproto.signupQueued'
export const SCOPE_REFRESH = 'com.atproto.refresh'

/** Password sessions only: app passwords are refused. */
export const ACCESS_FULL: readonly AccessScope[] = [SCOPE_ACCESS]
/** Password sessions and privileged app passwords. */
export const ACCESS_PRIVILEGED: readonly AccessScope[] = [SCOPE_ACCESS, SCOPE_APP_PASS_PRIVILEGED]
/** Any session of an active account (the default). */
export const ACCESS_STANDARD: readonly AccessScope[] = [SCOPE_ACCESS, SCOPE_APP_PASS_PRIVILEGED, SCOPE_APP_PASS]

const ACCESS_SCOPES: ReadonlySet<string> = new Set<string>([
  SCOPE_ACCESS,
  SCOPE_APP_PASS_PRIVILEGED,
  SCOPE_APP_PASS,
  SCOPE_TAKENDOWN,
  SCOPE_SIGNUP_QUEUED,
])

export function isAccessScope(value: unknown): value is AccessScope {
  return typeof value === 'string' && ACCESS_SCOPES.has(value)
}

/** The scope a new session gets: takedown first, then the kind of password used. */
export function sessionScope(appPassword: { privileged: boolean } | null, takendown = false): AccessScope {
  if (takendown) return SCOPE_TAKENDOWN
  if (!appPassword) return SCOPE_ACCESS
  return appPassword.privileged ? SCOPE_APP_PASS_PRIVILEGED : SCOPE_APP_PASS
}
