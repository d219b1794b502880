// The resource-server side: AuthVerifiers hands `DPoP <token>` requests here (its `oauth`
// hook). The token and proof are checked by the provider; the account status and the method's
// OAuth rule (OAUTH_METHOD_RULES) are checked here, as the official's oauth() verifier does.
import type { AccountStore } from '../account/store.ts'
import { checkScope, OAUTH_METHOD_RULES } from '../auth/permissions.ts'
import type { AccessAuth } from '../xrpc/auth-result.ts'
import type { AccessOptions, OAuthVerifier } from '../auth/verifier.ts'
import { authRequired, forbidden, invalidRequest, XrpcError } from '../errors.ts'
import type { XrpcRequestInfo } from '../xrpc/types.ts'
import { exposeHeaders } from '../xrpc/cors.ts'
import { OAuthError } from './errors.ts'
import { oauthScopes } from '../auth/oauth-libs.ts'
import type { OAuthProvider } from './provider.ts'

/** The legacy scope an OAuth AccessAuth carries: app-password-like (never "full"), refined by `permissions`. */
export const OAUTH_LEGACY_SCOPE = 'com.atproto.appPassPrivileged' as const

export function createOAuthVerifier(getProvider: () => OAuthProvider | null, accounts: AccountStore): OAuthVerifier {
  return async (info: XrpcRequestInfo, opts: AccessOptions): Promise<AccessAuth> => {
    const provider = getProvider()
    if (!provider) throw invalidRequest('Unexpected authorization type', 'InvalidToken')
    const nonce = provider.dpop.nonces.next()
    if (info.res && !info.res.headersSent) {
      info.res.setHeader('DPoP-Nonce', nonce)
      exposeHeaders(info.res, ['DPoP-Nonce', 'WWW-Authenticate'])
    }
    const url = new URL(info.req.url ?? '/', provider.issuer)
    let access: Awaited<ReturnType<OAuthProvider['verifyResourceRequest']>>
    try {
      access = await provider.verifyResourceRequest(info.req.method ?? 'GET', url, info.req.headers)
    } catch (err) {
      if (err instanceof OAuthError) {
        // As official: the OAuth error name and description become the XRPC error and message.
        throw new XrpcError(err.status, err.error, err.description, { ...err.headers, 'DPoP-Nonce': nonce })
      }
      throw err
    }
    if (!access.did.startsWith('did:')) throw invalidRequest('Malformed token', 'InvalidToken')
    if (opts.checkTakedown || opts.checkDeactivated) {
      const account = accounts.getAccount(access.did, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw forbidden('Account not found', 'AccountNotFound')
      if (opts.checkTakedown && account.takedownRef) throw authRequired('Account has been taken down', 'AccountTakedown')
      if (opts.checkDeactivated && account.deactivatedAt) throw authRequired('Account is deactivated', 'AccountDeactivated')
    }
    const permissions = new (oauthScopes().ScopePermissionsTransition)(access.scope.split(' ').filter(Boolean))
    if (!permissions.scopes.has('atproto')) throw invalidRequest('OAuth token does not have "atproto" scope', 'InvalidToken')
    const rule = OAUTH_METHOD_RULES[info.nsid]
    if (rule) checkScope(() => rule(permissions, info))
    return { kind: 'access', did: access.did, scope: OAUTH_LEGACY_SCOPE, appPasswordName: null, permissions }
  }
}
