// OAuth clients: discovered from their client_id (an https URL serving the client metadata
// document, fetched through the SSRF guard) or loopback development clients (`http://localhost`
// ids whose query carries scope and redirect_uri), checked against the atproto profile.
// Confidential clients authenticate with private_key_jwt assertions.
import type { OAuthClientMetadata } from '@atproto/oauth-types'
import type { JSONWebKeySet, JWK } from 'jose'
import { safeFetch, type SafeFetchOptions } from '../identity/safe-fetch.ts'
import { invalidClient, invalidClientMetadata, invalidGrant, invalidRequest, OAuthError, VERIFY_ALGOS } from './errors.ts'
import { JwtError, jwtAlg, verifyK256JwtWithKeys } from './jwt.ts'
import { isJoseError, loadJose, oauthTypes } from '../auth/oauth-libs.ts'
import { ReplayCache } from './replay.ts'

export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** Largest client metadata document (or jwks_uri document) accepted. */
export const CLIENT_METADATA_MAX_BYTES = 100 * 1024
export const CLIENT_METADATA_TIMEOUT_MS = 5_000
const CLIENT_ASSERTION_MAX_AGE_S = 60
/** The official JAR_MAX_AGE. */
export const JAR_MAX_AGE_S = 59
const CACHE_TTL_MS = 10 * 60_000
const CACHE_MAX = 500

/** What the token endpoint learnt about the client's authentication (stored as `clientAuth`). */
export type ClientAuth = { method: 'none' } | { method: 'private_key_jwt'; jti: string; exp: number; jkt: string; alg: string; kid: string }

export interface OAuthClient {
  id: string
  metadata: OAuthClientMetadata
  /** A loopback development client (no metadata document). */
  isLoopback: boolean
  /** PDS_OAUTH_TRUSTED_CLIENTS lists it. */
  isTrusted: boolean
}

export type MetadataFetch = (url: string, opts: SafeFetchOptions) => Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }>

export interface ClientManagerOptions {
  /** The authorization server's issuer: the audience of client assertions. */
  issuer: string
  trustedClients?: readonly string[]
  /** Let client_id URLs resolve to private addresses (dev/local mode, tests). */
  allowPrivate?: boolean
  /** Replaces the SSRF-guarded fetch (tests). */
  fetch?: MetadataFetch
}

interface VerifiedClientJwt {
  payload: Record<string, unknown>
  alg: string
  kid: string | undefined
  /** The public key that verified it. */
  jwk: JWK
}

/** Credentials from a PAR/token/revoke request body. */
export interface ClientCredentials {
  client_id: string
  client_assertion_type?: string
  client_assertion?: string
}

export class ClientManager {
  readonly #opts: ClientManagerOptions
  readonly #cache = new Map<string, { client: OAuthClient; until: number }>()
  readonly #jwksCache = new Map<string, { jwks: JSONWebKeySet; until: number }>()
  readonly #assertionReplay = new ReplayCache()

  constructor(opts: ClientManagerOptions) {
    this.#opts = opts
  }

  /** An already discovered client, without fetching. */
  peek(clientId: string): OAuthClient | null {
    return this.#cache.get(clientId)?.client ?? null
  }

  async getClient(clientId: string): Promise<OAuthClient> {
    const cached = this.#cache.get(clientId)
    if (cached && cached.until > Date.now()) return cached.client
    const client = await this.#load(clientId)
    if (this.#cache.size >= CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value as string)
    this.#cache.set(clientId, { client, until: Date.now() + CACHE_TTL_MS })
    return client
  }

  async #load(clientId: string): Promise<OAuthClient> {
    const isTrusted = this.#opts.trustedClients?.includes(clientId) ?? false
    const { atprotoLoopbackClientMetadata, isOAuthClientIdLoopback, oauthClientMetadataSchema } = oauthTypes()
    if (isOAuthClientIdLoopback(clientId)) {
      let metadata: OAuthClientMetadata
      try {
        metadata = oauthClientMetadataSchema.parse(atprotoLoopbackClientMetadata(clientId))
      } catch (err) {
        throw invalidClientMetadata(`Invalid loopback client ID "${clientId}": ${describe(err)}`)
      }
      validateMetadata(clientId, metadata, true)
      return { id: clientId, metadata, isLoopback: true, isTrusted }
    }
    const url = parseDiscoverableClientId(clientId)
    const metadata = await this.#fetchMetadata(url)
    validateMetadata(clientId, metadata, false)
    return { id: clientId, metadata, isLoopback: false, isTrusted }
  }

  async #fetchJson(url: string, what: string): Promise<unknown> {
    const fetch: MetadataFetch = this.#opts.fetch ?? safeFetch
    let res: Awaited<ReturnType<MetadataFetch>>
    try {
      res = await fetch(url, {
        headers: { accept: 'application/json' },
        maxBytes: CLIENT_METADATA_MAX_BYTES,
        timeoutMs: CLIENT_METADATA_TIMEOUT_MS,
        maxRedirects: 0,
        allowPrivate: this.#opts.allowPrivate ?? false,
      })
    } catch (err) {
      // The guard's and the fetcher's messages name no secret: the reason helps client developers.
      throw invalidClientMetadata(`Unable to obtain ${what} from "${url}": ${describe(err)}`)
    }
    if (res.status !== 200) throw invalidClientMetadata(`Unable to obtain ${what} from "${url}": HTTP ${res.status}`)
    try {
      return JSON.parse(res.body.toString('utf8'))
    } catch {
      throw invalidClientMetadata(`Invalid ${what} from "${url}": not JSON`)
    }
  }

  async #fetchMetadata(url: URL): Promise<OAuthClientMetadata> {
    const json = await this.#fetchJson(url.href, 'client metadata')
    const parsed = oauthTypes().oauthClientMetadataSchema.safeParse(json)
    if (!parsed.success) throw invalidClientMetadata(`Invalid client metadata document: ${describe(parsed.error)}`)
    return parsed.data
  }

  /** The client's public keys (its jwks, or the cached jwks_uri document). */
  async #clientKeys(client: OAuthClient): Promise<JSONWebKeySet> {
    const { jwks, jwks_uri } = client.metadata
    if (jwks) return jwks as JSONWebKeySet
    if (!jwks_uri) return { keys: [] }
    const cached = this.#jwksCache.get(jwks_uri)
    if (cached && cached.until > Date.now()) return cached.jwks
    const json = (await this.#fetchJson(jwks_uri, 'client jwks')) as JSONWebKeySet
    if (!json || !Array.isArray(json.keys)) throw invalidClientMetadata('Invalid client jwks')
    this.#jwksCache.set(jwks_uri, { jwks: json, until: Date.now() + CACHE_TTL_MS })
    return json
  }

  /**
   * Verifies a JWT the client signed (a client assertion or a request object) with its keys:
   * jose for the WebCrypto algorithms, node:crypto (jwt.ts) for ES256K.
   */
  async #verifyClientJwt(
    client: OAuthClient,
    jwt: string,
    checks: { subject?: string; audience: string; maxTokenAgeS: number; requiredClaims: string[]; algorithms: readonly string[] },
  ): Promise<VerifiedClientJwt> {
    const jwks = await this.#clientKeys(client)
    if (jwtAlg(jwt) === 'ES256K' && checks.algorithms.includes('ES256K')) {
      const { header, payload, jwk } = verifyK256JwtWithKeys(jwt, jwks.keys, {
        issuer: client.id,
        subject: checks.subject,
        audience: checks.audience,
        maxTokenAgeS: checks.maxTokenAgeS,
        requiredClaims: checks.requiredClaims,
      })
      return { payload, alg: 'ES256K', kid: typeof header.kid === 'string' ? header.kid : undefined, jwk }
    }
    const { createLocalJWKSet, exportJWK, jwtVerify } = await loadJose()
    const verified = await jwtVerify(jwt, createLocalJWKSet(jwks), {
      issuer: client.id,
      subject: checks.subject,
      audience: checks.audience,
      requiredClaims: checks.requiredClaims,
      maxTokenAge: checks.maxTokenAgeS,
      algorithms: checks.algorithms.filter((a) => a !== 'ES256K'),
    })
    const jwk = await exportJWK(verified.key as Parameters<typeof exportJWK>[0])
    return { payload: verified.payload as Record<string, unknown>, alg: verified.protectedHeader.alg, kid: verified.protectedHeader.kid, jwk }
  }

  /**
   * Decodes a JAR request object (RFC 9101) as the official does: signed with the client's keys
   * (the algorithm its metadata names, or any), or unsigned when its metadata says
   * request_object_signing_alg "none"; iss (when present) the client, aud this server, at most
   * 59 seconds old. Throws invalid_request.
   */
  async decodeRequestObject(client: OAuthClient, jar: string): Promise<Record<string, unknown>> {
    const declared = client.metadata.request_object_signing_alg
    try {
      if (declared === 'none') {
        const { UnsecuredJWT } = await loadJose()
        const { payload } = UnsecuredJWT.decode(jar, { maxTokenAge: JAR_MAX_AGE_S })
        if (payload.iss != null && payload.iss !== client.id) throw new JwtError(`Invalid "iss" claim "${String(payload.iss)}"`)
        if (payload.aud != null) {
          const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
          if (!aud.includes(this.#opts.issuer)) throw new JwtError(`Invalid "aud" claim "${String(payload.aud)}"`)
        }
        return payload as Record<string, unknown>
      }
      const { payload } = await this.#verifyClientJwt(client, jar, {
        audience: this.#opts.issuer,
        maxTokenAgeS: JAR_MAX_AGE_S,
        requiredClaims: [],
        algorithms: declared ? [declared] : VERIFY_ALGOS,
      })
      return payload
    } catch (err) {
      if (err instanceof OAuthError) throw err
      const known = isJoseError(err) || err instanceof JwtError
      throw invalidRequest(known ? `Invalid "request" object: ${(err as Error).message}` : 'Invalid "request" object')
    }
  }

  /** Authenticates the client as its metadata requires (RFC 7523 for private_key_jwt). */
  async authenticate(client: OAuthClient, creds: ClientCredentials): Promise<ClientAuth> {
    const method = client.metadata.token_endpoint_auth_method
    if (method === 'none') {
      if (creds.client_assertion !== undefined) throw invalidClient('This client does not use client assertions')
      return { method: 'none' }
    }
    if (method !== 'private_key_jwt') throw invalidClientMetadata(`Unsupported token_endpoint_auth_method "${method}"`)
    if (creds.client_assertion === undefined) {
      throw invalidRequest(`client authentication method "${method}" required a "client_assertion"`)
    }
    if (creds.client_assertion_type !== CLIENT_ASSERTION_TYPE_JWT_BEARER) {
      throw invalidClient(`Unsupported client_assertion_type "${creds.client_assertion_type}"`)
    }
    let verified: VerifiedClientJwt
    try {
      verified = await this.#verifyClientJwt(client, creds.client_assertion, {
        subject: client.id,
        audience: this.#opts.issuer,
        requiredClaims: ['jti', 'iat'],
        maxTokenAgeS: CLIENT_ASSERTION_MAX_AGE_S,
        algorithms: VERIFY_ALGOS,
      })
    } catch (err) {
      if (err instanceof OAuthError) throw err
      const detail = isJoseError(err) || err instanceof JwtError ? `: ${err.message}` : ''
      throw invalidClient(`Validation of "client_assertion" failed${detail}`)
    }
    const { kid, payload } = verified
    if (!kid) throw invalidClient('"kid" required in client_assertion')
    const jti = String(payload.jti)
    const exp = typeof payload.exp === 'number' ? payload.exp : (payload.iat as number) + CLIENT_ASSERTION_MAX_AGE_S
    if (!this.#assertionReplay.unique(`${client.id}:${jti}`, CLIENT_ASSERTION_MAX_AGE_S * 1000 + 60_000)) {
      throw invalidGrant('private_key_jwt jti reused')
    }
    // As official: the key is remembered by a SHA-512 thumbprint so a session stays tied to it.
    const { calculateJwkThumbprint } = await loadJose()
    const jkt = await calculateJwkThumbprint(verified.jwk, 'sha512')
    return { method: 'private_key_jwt', jti, exp, jkt, alg: verified.alg, kid }
  }
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'issues' in err && Array.isArray((err as { issues: unknown[] }).issues)) {
    const issue = (err as { issues: Array<{ path: Array<string | number>; message: string }> }).issues[0]
    if (issue) return `${issue.path.join('.') || 'value'}: ${issue.message}`
  }
  return err instanceof Error ? err.message : 'unknown error'
}

/** An https client_id URL with a path, no credentials, fragment or dot segments (the discoverable form). */
export function parseDiscoverableClientId(clientId: string): URL {
  let url: URL
  try {
    url = new URL(clientId)
  } catch {
    throw invalidClientMetadata(`Invalid client ID "${clientId}"`)
  }
  if (url.protocol !== 'https:') throw invalidClientMetadata('Discoverable client IDs must use https')
  if (url.href !== clientId) throw invalidClientMetadata('Client ID must be in canonical form')
  if (url.username || url.password) throw invalidClientMetadata('Client ID must not contain credentials')
  if (url.hash) throw invalidClientMetadata('Client ID must not contain a fragment')
  if (url.pathname === '/') throw invalidClientMetadata('Client ID must contain a path component (e.g. "/client-metadata.json")')
  if (url.pathname.endsWith('/')) throw invalidClientMetadata('Client ID path must not end with a trailing slash')
  if (url.hostname === 'localhost' || url.hostname.endsWith('.local')) throw invalidClientMetadata('Client ID hostname must not be a local hostname')
  return url
}

function dup(list: readonly string[]): string | undefined {
  return list.find((v, i) => list.indexOf(v) !== i)
}

/** The atproto OAuth profile's rules on client metadata. */
export function validateMetadata(clientId: string, m: OAuthClientMetadata, loopback: boolean): void {
  if (m.client_id !== undefined && m.client_id !== clientId) throw invalidClientMetadata('client_id does not match')
  if (!loopback && m.client_id === undefined) throw invalidClientMetadata('client_id is required for discoverable clients')
  if (m.jwks && m.jwks_uri) throw invalidClientMetadata('jwks_uri and jwks are mutually exclusive')
  if (!m.scope) throw invalidClientMetadata('Missing scope property')
  const scopes = m.scope.split(' ')
  if (!scopes.includes('atproto')) throw invalidClientMetadata('Missing "atproto" scope')
  const dupScope = dup(scopes)
  if (dupScope) throw invalidClientMetadata(`Duplicate scope "${dupScope}"`)
  const dupGrant = dup(m.grant_types)
  if (dupGrant) throw invalidClientMetadata(`Duplicate grant type "${dupGrant}"`)
  for (const g of m.grant_types) {
    if (g !== 'authorization_code' && g !== 'refresh_token') throw invalidClientMetadata(`Grant type "${g}" is not supported`)
  }
  if (m.dpop_bound_access_tokens !== true) throw invalidClientMetadata('"dpop_bound_access_tokens" must be true')
  if (!m.response_types.includes('code')) throw invalidClientMetadata('response_types must include "code"')
  if (!m.grant_types.includes('authorization_code')) {
    throw invalidClientMetadata('The "code" response type requires that "grant_types" contains "authorization_code"')
  }
  if (m.subject_type !== undefined && m.subject_type !== 'public') throw invalidClientMetadata('Only "public" subject_type is supported')
  switch (m.token_endpoint_auth_method) {
    case 'none':
      if (m.token_endpoint_auth_signing_alg) {
        throw invalidClientMetadata('token_endpoint_auth_method "none" must not have token_endpoint_auth_signing_alg')
      }
      break
    case 'private_key_jwt':
      if (loopback) throw invalidClientMetadata('Loopback clients are not allowed to use "token_endpoint_auth_method" private_key_jwt')
      if (!m.jwks && !m.jwks_uri) throw invalidClientMetadata('private_key_jwt auth method requires jwks or jwks_uri')
      if (m.jwks && m.jwks.keys.length === 0) throw invalidClientMetadata('private_key_jwt auth method requires at least one key in jwks')
      if (!m.token_endpoint_auth_signing_alg) throw invalidClientMetadata('Missing token_endpoint_auth_signing_alg client metadata')
      break
    default:
      throw invalidClientMetadata(
        `Unsupported client authentication method "${m.token_endpoint_auth_method}". Make sure "token_endpoint_auth_method" is set to "none" or "private_key_jwt".`,
      )
  }
  if (m.authorization_encrypted_response_enc) throw invalidClientMetadata('Encrypted authorization response is not supported')
  if (m.tls_client_certificate_bound_access_tokens) throw invalidClientMetadata('Mutual-TLS bound access tokens are not supported')
  if (!m.redirect_uris.length) throw invalidClientMetadata('At least one redirect_uri is required')
  if (m.application_type === 'native' && m.token_endpoint_auth_method !== 'none' && !loopback) {
    throw invalidClientMetadata('Native clients must authenticate using "none" method')
  }
  if (loopback && m.application_type !== 'native') throw invalidClientMetadata('Loopback clients must have application_type "native"')
  const clientOrigin = loopback ? null : new URL(clientId)
  for (const uri of m.redirect_uris) {
    const url = new URL(uri)
    if (url.username || url.password) throw invalidClientMetadata(`Redirect URI ${uri} must not contain credentials`)
    const loopbackIp = url.hostname === '127.0.0.1' || url.hostname === '[::1]'
    if (url.protocol === 'https:') {
      if (url.hostname === 'localhost') throw invalidClientMetadata('Web clients must not use localhost as the hostname')
      continue
    }
    if (url.protocol === 'http:') {
      if (url.hostname === 'localhost') throw invalidClientMetadata(`Loopback redirect URI ${uri} is not allowed (use explicit IPs instead)`)
      if (!loopbackIp) throw invalidClientMetadata('Only loopback redirect URIs are allowed to use the "http" scheme')
      if (m.application_type !== 'native') throw invalidClientMetadata('Loopback redirect URIs are only allowed for native apps')
      continue
    }
    // Private-use scheme (native apps): the reversed client_id hostname, as the profile requires.
    if (m.application_type !== 'native') throw invalidClientMetadata('Private-Use URI Scheme redirect URI are only allowed for native apps')
    if (clientOrigin) {
      const reversed = clientOrigin.hostname.split('.').reverse().join('.')
      if (url.protocol.slice(0, -1) !== reversed) {
        throw invalidClientMetadata('Private-Use URI Scheme redirect URI must be the reversed client_id hostname')
      }
    }
  }
  if (!loopback && m.client_uri) {
    const clientUri = new URL(m.client_uri)
    if (clientUri.origin !== new URL(clientId).origin) throw invalidClientMetadata('client_uri must have the same origin as the client_id')
  }
}

/** RFC 8252 §7.3: a loopback redirect URI matches whatever its port. */
export function compareRedirectUri(allowed: string, requested: string): boolean {
  if (allowed === requested) return true
  try {
    const a = new URL(allowed)
    const r = new URL(requested)
    const loopback = (h: string) => h === '127.0.0.1' || h === '[::1]'
    return (
      a.protocol === 'http:' &&
      loopback(a.hostname) &&
      a.hostname === r.hostname &&
      a.protocol === r.protocol &&
      a.pathname === r.pathname &&
      a.search === r.search &&
      !r.username &&
      !r.password
    )
  } catch {
    return false
  }
}
