// OAuth errors as RFC 6749/9449 name them. The endpoints answer `{ error, error_description }`;
// DPoP and token errors also carry a WWW-Authenticate challenge (401), as the official does.

/** The JWS algorithms accepted for DPoP proofs and client assertions (the official VERIFY_ALGOS). */
export const VERIFY_ALGOS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES256K', 'ES384', 'ES512'] as const

export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    /** Extra response headers (WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(description)
    this.name = 'OAuthError'
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description }
  }
}

// The challenge's parameter values may not contain quotes: such a value is left out, as official.
function dpopChallenge(error: string, description: string): string {
  const params: Array<[string, string]> = [
    ['error', error],
    ['error_description', description],
    ['algs', VERIFY_ALGOS.join(' ')],
  ]
  const enc = params.filter(([, v]) => v !== '' && !v.includes('"')).map(([k, v]) => `${k}="${v}"`)
  return `DPoP ${enc.join(', ')}`
}

export const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d)
export const invalidClient = (d: string) => new OAuthError(400, 'invalid_client', d)
export const invalidGrant = (d: string) => new OAuthError(400, 'invalid_grant', d)
export const invalidScope = (d: string) => new OAuthError(400, 'invalid_scope', d)
export const accessDenied = (d: string) => new OAuthError(400, 'access_denied', d)
export const invalidClientMetadata = (d: string) => new OAuthError(400, 'invalid_client_metadata', d)
export const invalidDpopProof = (d: string) =>
  new OAuthError(401, 'invalid_dpop_proof', d, { 'WWW-Authenticate': dpopChallenge('invalid_dpop_proof', d) })

/** At the authorization server, a plain 400 (the client reads the DPoP-Nonce header). */
export class UseDpopNonceError extends OAuthError {
  constructor(description = 'Authorization server requires nonce in DPoP proof') {
    super(400, 'use_dpop_nonce', description)
  }

  /** At a resource server: 401 with the DPoP challenge (RFC 9449 §9). */
  forResource(): OAuthError {
    return new OAuthError(401, 'use_dpop_nonce', this.description, {
      'WWW-Authenticate': dpopChallenge('use_dpop_nonce', this.description),
    })
  }
}

export const invalidToken = (d: string) =>
  new OAuthError(401, 'invalid_token', d, { 'WWW-Authenticate': dpopChallenge('invalid_token', d) })
