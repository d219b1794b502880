// OAuth permission checks. An OAuth session's AccessAuth carries `permissions` (its granted
// scopes, with the transition:* mappings the official applies); legacy sessions carry none and
// pass every check. Failures are the official's: 403 ScopeMissingError `Missing required scope "…"`,
// and 403 Forbidden for methods refused to OAuth sessions altogether.
import type { ScopePermissions } from '@atproto/oauth-scopes'
import { isScopeMissingError } from './oauth-libs.ts'
import { forbidden, XrpcError } from '../errors.ts'
import type { XrpcRequestInfo } from '../xrpc/types.ts'
import type { AuthResult } from '../xrpc/auth-result.ts'

export type RepoAction = 'create' | 'update' | 'delete'
export type AccountAttr = 'email' | 'repo' | 'status'
export type AccountAction = 'read' | 'manage'
export type IdentityAttr = 'handle' | '*'

function permissionsOf(auth: AuthResult): ScopePermissions | null {
  return auth.kind === 'access' ? (auth.permissions ?? null) : null
}

/** Runs an oauth-scopes assertion, turning its ScopeMissingError into the XRPC error the official sends. */
export function checkScope(fn: () => void): void {
  try {
    fn()
  } catch (err) {
    if (isScopeMissingError(err)) throw new XrpcError(403, 'ScopeMissingError', err.message)
    throw err
  }
}

export function isOAuth(auth: AuthResult): boolean {
  return permissionsOf(auth) !== null
}

export function assertRepoPermission(auth: AuthResult, collection: string, action: RepoAction): void {
  const p = permissionsOf(auth)
  if (p) checkScope(() => p.assertRepo({ collection, action }))
}

export function assertBlobPermission(auth: AuthResult, mime: string): void {
  const p = permissionsOf(auth)
  if (p) checkScope(() => p.assertBlob({ mime }))
}

export function assertRpcPermission(auth: AuthResult, lxm: string, aud: string): void {
  const p = permissionsOf(auth)
  if (p) checkScope(() => p.assertRpc({ lxm, aud: aud as `did:${string}#${string}` }))
}

export function assertAccountPermission(auth: AuthResult, attr: AccountAttr, action: AccountAction): void {
  const p = permissionsOf(auth)
  if (p) checkScope(() => p.assertAccount({ attr, action }))
}

export function assertIdentityPermission(auth: AuthResult, attr: IdentityAttr): void {
  const p = permissionsOf(auth)
  if (p) checkScope(() => p.assertIdentity({ attr }))
}

/** True when the session may read the account's email (getSession hides it otherwise, as official). */
export function allowsEmailRead(auth: AuthResult): boolean {
  const p = permissionsOf(auth)
  return p === null || p.allowsAccount({ attr: 'email', action: 'read' })
}

export const oauthRefused = () => forbidden('OAuth credentials are not supported for this endpoint')

/**
 * What the official's `authorize` callbacks check before a method runs, for the methods this
 * PDS serves itself; applied by the OAuth verifier from the method's NSID. Methods whose
 * permission depends on the body (record writes, uploadBlob) check in their handlers.
 */
export const OAUTH_METHOD_RULES: Readonly<Record<string, (p: ScopePermissions, info: XrpcRequestInfo) => void>> = {
  // Full sessions only.
  'com.atproto.server.createAppPassword': refuse,
  'com.atproto.server.listAppPasswords': refuse,
  'com.atproto.server.revokeAppPassword': refuse,
  'com.atproto.server.requestAccountDelete': refuse,
  // The official 0.5 line's own words for these two refusals.
  'com.atproto.server.activateAccount': () => {
    throw forbidden('Account reactivation is not available with OAuth credentials. Sign in to your account management page to reactivate.')
  },
  'com.atproto.server.updateEmail': refuseEmailUpdate,
  'com.atproto.server.requestEmailUpdate': refuseEmailUpdate,
  'com.atproto.server.getAccountInviteCodes': refuse,
  // Account and identity scopes.
  // Official 0.5: an app granted account:status?action=manage may deactivate the account (which
  // then ends every OAuth session and app password, see deactivateAccount).
  'com.atproto.server.deactivateAccount': (p) => p.assertAccount({ attr: 'status', action: 'manage' }),
  'com.atproto.server.confirmEmail': (p) => p.assertAccount({ attr: 'email', action: 'manage' }),
  'com.atproto.server.requestEmailConfirmation': (p) => p.assertAccount({ attr: 'email', action: 'manage' }),
  'com.atproto.repo.importRepo': (p) => p.assertAccount({ attr: 'repo', action: 'manage' }),
  'com.atproto.identity.updateHandle': (p) => p.assertIdentity({ attr: 'handle' }),
  'com.atproto.identity.submitPlcOperation': (p) => p.assertIdentity({ attr: '*' }),
  'com.atproto.identity.signPlcOperation': (p) => p.assertIdentity({ attr: '*' }),
  'com.atproto.identity.requestPlcOperationSignature': (p) => p.assertIdentity({ attr: '*' }),
  // Service auth for another service: the rpc scope for that audience and method.
  'com.atproto.server.getServiceAuth': (p, info) => {
    const aud = typeof info.params?.aud === 'string' ? info.params.aud : ''
    const lxm = typeof info.params?.lxm === 'string' ? info.params.lxm : '*'
    p.assertRpc({ aud: aud as `did:${string}#${string}`, lxm })
  },
}

function refuse(): never {
  throw oauthRefused()
}

function refuseEmailUpdate(): never {
  throw forbidden('Use the account manager interface to update email address associated with an account')
}
