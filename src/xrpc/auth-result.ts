// What an auth verifier learns about a request. Handlers receive one of these, never a token.
import type { ScopePermissions } from '@atproto/oauth-scopes'

/** Scopes of the legacy session JWTs, with the official PDS's names. */
export type AccessScope =
  | 'com.atproto.access' // full password session
  | 'com.atproto.appPassPrivileged'
  | 'com.atproto.appPass'
  | 'com.atproto.takendown' // a taken-down account's limited session
  | 'com.atproto.signupQueued'

export type AuthResult =
  | { kind: 'none' }
  | {
      kind: 'access'
      did: string
      scope: AccessScope
      /** The app password the session came from, when known: always for Hearth-issued tokens; null for a token the official PDS issued (its scope still tells an app-password session apart). */
      appPasswordName: string | null
      /** OAuth (DPoP) sessions only: what the token's scopes allow (see src/auth/permissions.ts). Absent for legacy sessions, which have full rights. */
      permissions?: ScopePermissions
    }
  | {
      kind: 'refresh'
      did: string
      /** The refresh token's id (its `jti`, the refresh_token row key). */
      tokenId: string
      appPasswordName: string | null
      /** The token's exp, in milliseconds since the epoch. */
      expiresAt: number
    }
  | { kind: 'admin' }
  | { kind: 'service'; iss: string; did: string; aud: string; lxm: string | null }

export type AccessAuth = Extract<AuthResult, { kind: 'access' }>
export type RefreshAuth = Extract<AuthResult, { kind: 'refresh' }>
export type ServiceAuth = Extract<AuthResult, { kind: 'service' }>
