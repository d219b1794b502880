// The OAuth libraries, loaded on first use rather than at startup: jose, @atproto/oauth-scopes
// and @atproto/oauth-types (with their zod schemas) are about 13 MB of resident memory, and most
// servers see an OAuth request rarely. The two @atproto packages are CommonJS, so they load
// synchronously (the scope checks and the consent page stay synchronous); jose is ESM only, and
// every path that uses it is already async.
import { createRequire } from 'node:module'

type OAuthScopes = typeof import('@atproto/oauth-scopes')
type OAuthTypes = typeof import('@atproto/oauth-types')
type Jose = typeof import('jose')

const require = createRequire(import.meta.url)
let scopes: OAuthScopes | null = null
let types: OAuthTypes | null = null
let jose: Jose | null = null
let joseLoading: Promise<Jose> | null = null

/** @atproto/oauth-scopes. */
export function oauthScopes(): OAuthScopes {
  return (scopes ??= require('@atproto/oauth-scopes') as OAuthScopes)
}

/** @atproto/oauth-types. */
export function oauthTypes(): OAuthTypes {
  return (types ??= require('@atproto/oauth-types') as OAuthTypes)
}

/** jose. */
export function loadJose(): Promise<Jose> {
  return (joseLoading ??= import('jose').then((m) => (jose = m)))
}

/** True for an error jose threw (none can exist before jose is loaded). */
export function isJoseError(err: unknown): err is Error {
  return jose !== null && err instanceof jose.errors.JOSEError
}

/** True for oauth-scopes' ScopeMissingError (none can exist before the package is loaded). */
export function isScopeMissingError(err: unknown): err is Error {
  return scopes !== null && err instanceof scopes.ScopeMissingError
}
