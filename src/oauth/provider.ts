// The OAuth authorization server's state machine (PAR → authorize → code → tokens) over the
// official PDS's tables in account.sqlite, following the official provider step by step (its
// errors, lifetimes and id formats). The pages (src/oauth/ui) drive the authorize step through
// the contract methods; the protocol endpoints (src/oauth/index.ts) drive the rest.
import { createHash, randomBytes, timingSafeEqual, webcrypto } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { OAuthAuthorizationRequestParameters, OAuthClientMetadata } from '@atproto/oauth-types'
import type { AccountStore } from '../account/store.ts'
import type { DidDocument } from '../identity/did-doc.ts'
import { oauthAuthorization, sessionCreated } from '../metrics/index.ts'
import { isValidDid, isValidHandle } from '../repo/syntax.ts'
import { type ClientAuth, ClientManager, type ClientCredentials, compareRedirectUri, JAR_MAX_AGE_S, type MetadataFetch, type OAuthClient } from './client.ts'
import { type DpopProof, DpopVerifier } from './dpop.ts'
import {
  accessDenied,
  invalidClient,
  invalidDpopProof,
  invalidGrant,
  invalidRequest,
  invalidScope,
  invalidToken,
  OAuthError,
  UseDpopNonceError,
  VERIFY_ALGOS,
} from './errors.ts'
import { createLexiconFetcher, type LexiconFetcher, type LocalLexiconReader, PermissionSets } from './lexicons.ts'
import { loadJose, oauthScopes, oauthTypes } from '../auth/oauth-libs.ts'
import { ReplayCache } from './replay.ts'
import { OAuthStore, type RequestRow, type TokenRow } from './store.ts'

export { OAuthError } from './errors.ts'

const SECOND = 1000
const MINUTE = 60 * SECOND
const DAY = 24 * 60 * MINUTE
const YEAR = 365.25 * DAY
/** The official lifetimes. */
export const TOKEN_MAX_AGE_MS = 60 * MINUTE
export const PAR_EXPIRES_IN_MS = 5 * MINUTE
export const AUTHORIZATION_INACTIVITY_TIMEOUT_MS = 5 * MINUTE
export const PUBLIC_CLIENT_SESSION_LIFETIME_MS = 14 * DAY
export const PUBLIC_CLIENT_REFRESH_LIFETIME_MS = PUBLIC_CLIENT_SESSION_LIFETIME_MS
export const CONFIDENTIAL_CLIENT_SESSION_LIFETIME_MS = 2 * YEAR
export const CONFIDENTIAL_CLIENT_REFRESH_LIFETIME_MS = 3 * (YEAR / 12)
const CODE_CHALLENGE_REPLAY_MS = DAY

export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'
const hexId = (prefix: string, bytes: number) => `${prefix}${randomBytes(bytes).toString('hex')}`
const isCode = (v: string) => v.length === 4 + 64 && v.startsWith('cod-')
const isRefreshToken = (v: string) => v.length === 4 + 64 && v.startsWith('ref-')
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/
const isTokenId = (v: string) => v.length === 4 + 32 && v.startsWith('tok-')

export interface AuthorizationRequestView {
  /** urn:ietf:params:oauth:request_uri:req-… */
  requestUri: string
  clientId: string
  /** As discovered. */
  clientMetadata: OAuthClientMetadata
  /** scope, redirect_uri, state, login_hint, prompt, … */
  parameters: OAuthAuthorizationRequestParameters
  /** Resolved DID or handle from login_hint, if any. */
  loginHint: string | null
  expiresAt: Date
}

export interface OAuthProviderOptions {
  /** The issuer: this PDS's public URL. */
  issuer: string
  /** PDS_SERVICE_DID: the access tokens' audience. */
  serviceDid: string
  /** PDS_JWT_SECRET: access tokens are HS256 under it, as the official signs them. */
  jwtSecret: string
  /** PDS_DPOP_SECRET (64 hex digits) or null for a random one. */
  dpopSecret: string | null
  accounts: AccountStore
  trustedClients?: readonly string[]
  /** Let client_id URLs resolve to private addresses (dev/local mode). */
  allowPrivateClientFetch?: boolean
  /** Replaces the SSRF-guarded client metadata fetch (tests). */
  fetchClientMetadata?: MetadataFetch
  /** Resolves DIDs, for permission-set (include:) lexicons; without it (or lexiconFetcher) include: scopes are refused. */
  resolveDid?: (did: string) => Promise<DidDocument | null>
  /** Replaces the DNS + PDS lexicon lookup (tests). */
  lexiconFetcher?: LexiconFetcher
  /** Reads permission sets published by accounts hosted here from their repos. */
  readLocalLexicon?: LocalLexiconReader
}

/** What a verified resource request carries. */
export interface OAuthAccess {
  did: string
  scope: string
  clientId: string
  tokenId: string
}

export interface TokenResponse {
  access_token: string
  token_type: 'DPoP'
  refresh_token?: string
  scope: string
  expires_in: number
  sub: string
}

type RequestParams = OAuthAuthorizationRequestParameters & { dpop_jkt?: string }

export class OAuthProvider {
  readonly issuer: string
  readonly store: OAuthStore
  readonly clients: ClientManager
  readonly dpop: DpopVerifier
  readonly #accounts: AccountStore
  readonly #serviceDid: string
  /** PDS_JWT_SECRET imported once (jose would import a raw secret on every call). */
  readonly #key: Promise<webcrypto.CryptoKey>
  readonly #challenges = new ReplayCache()
  readonly #jars = new ReplayCache()
  readonly #permissionSets: PermissionSets | null

  constructor(opts: OAuthProviderOptions) {
    this.issuer = opts.issuer.replace(/\/+$/, '')
    this.store = new OAuthStore(opts.accounts.db)
    this.#accounts = opts.accounts
    this.#serviceDid = opts.serviceDid
    this.#key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(opts.jwtSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
    this.dpop = new DpopVerifier(opts.dpopSecret)
    this.clients = new ClientManager({
      issuer: this.issuer,
      trustedClients: opts.trustedClients,
      allowPrivate: opts.allowPrivateClientFetch,
      fetch: opts.fetchClientMetadata,
    })
    const fetcher =
      opts.lexiconFetcher ??
      (opts.resolveDid
        ? createLexiconFetcher({ resolveDid: opts.resolveDid, allowPrivate: opts.allowPrivateClientFetch, readLocal: opts.readLocalLexicon })
        : null)
    this.#permissionSets = fetcher ? new PermissionSets(opts.accounts.db, fetcher) : null
  }

  // --- metadata ----------------------------------------------------------

  /** /.well-known/oauth-authorization-server, field for field as the official builds it. */
  authorizationServerMetadata(): Record<string, unknown> {
    const url = (path: string) => new URL(path, this.issuer).href
    return {
      issuer: this.issuer,
      scopes_supported: ['atproto', 'transition:email', 'transition:generic', 'transition:chat.bsky'],
      subject_types_supported: ['public'],
      response_types_supported: ['code'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      ui_locales_supported: ['en-US'],
      display_values_supported: ['page', 'popup', 'touch'],
      prompt_values_supported: ['none', 'login', 'consent', 'select_account', 'create'],
      authorization_response_iss_parameter_supported: true,
      request_object_signing_alg_values_supported: [...VERIFY_ALGOS, 'none'],
      request_object_encryption_alg_values_supported: [],
      request_object_encryption_enc_values_supported: [],
      request_parameter_supported: true,
      request_uri_parameter_supported: true,
      require_request_uri_registration: true,
      jwks_uri: url('/oauth/jwks'),
      authorization_endpoint: url('/oauth/authorize'),
      token_endpoint: url('/oauth/token'),
      token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...VERIFY_ALGOS],
      revocation_endpoint: url('/oauth/revoke'),
      pushed_authorization_request_endpoint: url('/oauth/par'),
      require_pushed_authorization_requests: true,
      dpop_signing_alg_values_supported: [...VERIFY_ALGOS],
      protected_resources: [new URL(this.issuer).origin],
      client_id_metadata_document_supported: true,
    }
  }

  /** /.well-known/oauth-protected-resource (RFC 9728), as the official PDS serves it. */
  protectedResourceMetadata(): Record<string, unknown> {
    return {
      resource: new URL(this.issuer).origin,
      authorization_servers: [this.issuer],
      scopes_supported: [],
      bearer_methods_supported: ['header'],
      resource_documentation: 'https://atproto.com',
    }
  }

  /** The public keys: none, since access tokens are HMAC-signed (the official's keyset is its HS256 secret too). */
  jwks(): { keys: unknown[] } {
    return { keys: [] }
  }

  // --- client authentication --------------------------------------------

  async #authenticateClient(
    creds: ClientCredentials,
    proof: DpopProof | null,
    allowMissingProof = false,
  ): Promise<{ client: OAuthClient; clientAuth: ClientAuth }> {
    const client = await this.clients.getClient(creds.client_id)
    if (client.metadata.dpop_bound_access_tokens && !proof && !allowMissingProof) throw invalidDpopProof('DPoP proof required')
    if (proof && !client.metadata.dpop_bound_access_tokens) throw invalidDpopProof('DPoP proof not allowed for this client')
    const clientAuth = await this.clients.authenticate(client, creds)
    if (clientAuth.method === 'private_key_jwt' && proof) {
      // The DPoP key must not be the client's assertion key (compared by public thumbprint).
      if (clientAuth.jkt === proof.jkt) throw invalidRequest('The DPoP proof must be signed with a different key than the client assertion')
    }
    return { client, clientAuth }
  }

  // --- PAR -------------------------------------------------------------------

  /** POST /oauth/par (RFC 9126). */
  async pushedAuthorizationRequest(payload: Record<string, unknown>, proof: DpopProof | null): Promise<{ request_uri: string; expires_in: number }> {
    const { oauthAuthorizationRequestParametersSchema, oauthClientCredentialsSchema } = oauthTypes()
    const creds = oauthClientCredentialsSchema.safeParse(payload)
    if (!creds.success) throw invalidClient('Client credentials missing')
    // As the official's union schema: plain parameters first, else a JAR `request` object.
    const parsed = oauthAuthorizationRequestParametersSchema.safeParse(stripCredentials(payload))
    const jar = !parsed.success && typeof payload.request === 'string' && JWT_SHAPE.test(payload.request) ? payload.request : null
    if (!parsed.success && !jar) throw invalidRequest(`Invalid authorization request: ${describeZod(parsed.error)}`)
    const { client, clientAuth } = await this.#authenticateClient(creds.data as ClientCredentials, proof, true)
    let parameters: RequestParams = jar ? await this.#decodeJar(client, jar) : (parsed.data as RequestParams)
    if (!parameters.dpop_jkt) {
      if (client.metadata.dpop_bound_access_tokens && proof) parameters = { ...parameters, dpop_jkt: proof.jkt }
    } else {
      if (!client.metadata.dpop_bound_access_tokens) throw invalidRequest('DPoP bound access tokens are not enabled for this client')
      if (proof && proof.jkt !== parameters.dpop_jkt) throw invalidRequest('DPoP proof does not match the dpop_jkt parameter')
    }
    parameters = this.#validateRequest(client, parameters)
    await this.#permissionSets?.check(parameters.scope)
    const id = hexId('req-', 16)
    const expiresAt = new Date(Date.now() + PAR_EXPIRES_IN_MS)
    this.store.createRequest({ id, did: null, deviceId: null, clientId: client.id, clientAuth, parameters, expiresAt, code: null })
    return { request_uri: REQUEST_URI_PREFIX + id, expires_in: Math.round(PAR_EXPIRES_IN_MS / 1000) }
  }

  /** A request object's parameters (RFC 9101), verified with the client's keys, once only. */
  async #decodeJar(client: OAuthClient, jar: string): Promise<RequestParams> {
    const payload = await this.clients.decodeRequestObject(client, jar)
    const { jti } = payload
    if (typeof jti !== 'string' || !jti) throw invalidRequest('Request object payload must contain a "jti" claim')
    if (!this.#jars.unique(`${client.id}:${jti}`, Math.ceil(JAR_MAX_AGE_S * 1000 * 1.1))) throw invalidRequest('Request object was replayed')
    const parsed = oauthTypes().oauthAuthorizationRequestParametersSchema.safeParse(payload)
    if (!parsed.success) throw invalidRequest(`Invalid parameters in JAR: ${describeZod(parsed.error)}`)
    return parsed.data as RequestParams
  }

  #validateRequest(client: OAuthClient, input: RequestParams): RequestParams {
    let p = input
    for (const k of ['claims', 'id_token_hint', 'nonce'] as const) {
      if ((p as Record<string, unknown>)[k] !== undefined) throw invalidRequest(`Unsupported "${k}" parameter`)
    }
    if (p.response_type !== 'code') throw invalidRequest(`Unsupported response_type "${p.response_type}"`)
    if (p.authorization_details) throw invalidRequest('Unsupported "authorization_details" type')
    if (p.client_id !== client.id) {
      throw invalidRequest('The "client_id" parameter field does not match the value used to authenticate the client')
    }
    if (p.scope !== undefined) {
      const declared = client.metadata.scope?.split(' ')
      if (!declared) throw invalidScope('Client has no declared scopes in its metadata')
      for (const s of p.scope.split(' ')) {
        if (!declared.includes(s)) throw invalidScope(`Scope "${s}" is not declared in the client metadata`)
      }
    }
    if (!client.metadata.response_types.includes(p.response_type)) {
      throw invalidRequest(`Invalid response_type "${p.response_type}" requested by the client`)
    }
    if (!client.metadata.grant_types.includes('authorization_code')) {
      throw invalidRequest('This client is not allowed to use the "authorization_code" grant type')
    }
    if (p.redirect_uri) {
      const requested = p.redirect_uri
      if (!client.metadata.redirect_uris.some((uri) => compareRedirectUri(uri, requested))) {
        throw invalidRequest(`Invalid redirect_uri ${p.redirect_uri}`)
      }
    } else if (client.metadata.redirect_uris.length === 1) {
      p = { ...p, redirect_uri: client.metadata.redirect_uris[0] }
    } else {
      throw invalidRequest('redirect_uri is required')
    }
    const requestedScopes = new Set(p.scope?.split(' '))
    // As official: scopes outside the atproto vocabulary are dropped, not refused.
    const scope = [...requestedScopes].filter(oauthScopes().isAtprotoOauthScope).join(' ') || undefined
    p = { ...p, scope }
    if (!p.code_challenge) {
      if (p.code_challenge_method) throw invalidRequest('code_challenge is required when code_challenge_method is provided')
      throw invalidRequest('Use of PKCE is required')
    }
    if (!requestedScopes.has('atproto')) throw invalidScope('The "atproto" scope is required')
    if (requestedScopes.has('openid')) throw invalidScope('OpenID Connect is not compatible with atproto')
    if (p.code_challenge_method !== 'S256') throw invalidRequest('atproto requires use of "S256" code_challenge_method')
    if (!client.isTrusted && client.metadata.token_endpoint_auth_method === 'none') {
      if (p.prompt === 'none') throw new OAuthError(400, 'consent_required', 'Public clients are not allowed to use silent-sign-on')
      if (p.prompt !== 'create') p = { ...p, prompt: 'consent' }
    }
    const hint = p.login_hint?.toLowerCase()
    if (hint) {
      if (!(hint.startsWith('did:') ? isValidDid(hint) : isValidHandle(hint))) throw invalidRequest(`Invalid login_hint "${hint}"`)
      p = { ...p, login_hint: hint }
    }
    if (!this.#permissionSets) {
      for (const s of requestedScopes) {
        if (s.startsWith('include:')) throw invalidScope(`Permission sets ("${s}") are not supported by this server`)
      }
    }
    return p
  }

  // --- authorize (the pages' side) -------------------------------------------

  /**
   * GET /oauth/authorize without PAR, as the official still allows: the parameters in the query,
   * or in a JAR `request` object verified with the client's keys. Stores the request for this
   * device (no client authentication, as official) and returns its request_uri; throws OAuthError.
   */
  async createRequestFromQuery(query: URLSearchParams, deviceId: string): Promise<string> {
    const input: Record<string, string> = {}
    for (const [k, v] of query) {
      if (Object.hasOwn(input, k)) throw invalidRequest(`Duplicate "${k}" parameter`)
      input[k] = v
    }
    if (!input.client_id) throw invalidRequest('client_id is required')
    const client = await this.clients.getClient(input.client_id)
    let parameters: RequestParams
    if ('request' in input) {
      parameters = await this.#decodeJar(client, input.request as string)
    } else {
      const parsed = oauthTypes().oauthAuthorizationRequestParametersSchema.safeParse(input)
      if (!parsed.success) throw invalidRequest(`Invalid authorization request: ${describeZod(parsed.error)}`)
      parameters = parsed.data as RequestParams
    }
    if (parameters.dpop_jkt && !client.metadata.dpop_bound_access_tokens) {
      throw invalidRequest('DPoP bound access tokens are not enabled for this client')
    }
    parameters = this.#validateRequest(client, parameters)
    await this.#permissionSets?.check(parameters.scope)
    const id = hexId('req-', 16)
    const expiresAt = new Date(Date.now() + PAR_EXPIRES_IN_MS)
    this.store.createRequest({ id, did: null, deviceId, clientId: client.id, clientAuth: null, parameters, expiresAt, code: null })
    return REQUEST_URI_PREFIX + id
  }

  #requestId(requestUri: string): string {
    if (!requestUri.startsWith(REQUEST_URI_PREFIX)) throw invalidRequest('Invalid request_uri')
    const id = requestUri.slice(REQUEST_URI_PREFIX.length)
    if (!/^req-[0-9a-f]{32}$/.test(id)) throw invalidRequest('Invalid request_uri')
    return id
  }

  /**
   * For the authorization pages: the pending PAR request; throws OAuthError (invalid_request /
   * access_denied) when unknown, expired, already used, or opened on another device. As the
   * official binds it, the first device to open a request owns it: a request_uri that leaked
   * cannot be completed in another browser (and the attempt ends the request).
   */
  async loadAuthorizationRequest(clientId: string, requestUri: string, deviceId?: string): Promise<AuthorizationRequestView> {
    const id = this.#requestId(requestUri)
    const row = this.store.readRequest(id)
    if (!row) throw invalidRequest('Unknown request_uri')
    let expiresAt: Date
    try {
      if (row.did || row.code) throw accessDenied('This request was already authorized')
      if (row.expiresAt < new Date()) throw accessDenied('This request has expired')
      if (row.clientId !== clientId) throw accessDenied('This request was initiated for another client')
      if (deviceId !== undefined && row.deviceId && row.deviceId !== deviceId) {
        throw accessDenied('This request was initiated from another device')
      }
      // As official: opening the page gives the user a fresh inactivity window.
      expiresAt = new Date(Date.now() + AUTHORIZATION_INACTIVITY_TIMEOUT_MS)
      this.store.updateRequest(id, deviceId !== undefined && !row.deviceId ? { expiresAt, deviceId } : { expiresAt })
    } catch (err) {
      this.store.deleteRequest(id)
      throw err
    }
    let client: OAuthClient
    try {
      client = await this.clients.getClient(row.clientId)
    } catch (err) {
      this.store.deleteRequest(id)
      throw err
    }
    return {
      requestUri,
      clientId: row.clientId,
      clientMetadata: client.metadata,
      parameters: row.parameters,
      loginHint: row.parameters.login_hint ?? null,
      expiresAt,
    }
  }

  /** The user (already authenticated by the pages on device `deviceId`) approved: issues the code, records the authorized client + scopes; returns the client redirect URL (code, state, iss; response_mode query/fragment). */
  async acceptAuthorization(requestUri: string, did: string, deviceId: string): Promise<string> {
    const id = this.#requestId(requestUri)
    const row = this.store.readRequest(id)
    if (!row) throw invalidRequest('Unknown request_uri')
    try {
      if (row.expiresAt < new Date()) throw accessDenied('This request has expired')
      if (row.deviceId && row.deviceId !== deviceId) throw accessDenied('This request was initiated from another device')
      if (row.did || row.code) throw accessDenied('This request was already authorized')
      const account = this.#accounts.getAccount(did, { includeDeactivated: true })
      if (!account) throw accessDenied('Account not found')
      const code = hexId('cod-', 32)
      this.store.updateRequest(id, {
        did,
        deviceId,
        code,
        expiresAt: new Date(Date.now() + AUTHORIZATION_INACTIVITY_TIMEOUT_MS),
      })
      // Loopback clients cannot be told apart, so their grants are never remembered (as official).
      if (!row.clientId.startsWith('http://localhost')) {
        const granted = new Set(this.store.getAuthorizedClient(did, row.clientId)?.authorizedScopes ?? [])
        for (const s of row.parameters.scope?.split(' ') ?? []) granted.add(s)
        this.store.setAuthorizedClient(did, row.clientId, { authorizedScopes: [...granted] })
      }
      // Hearth has no first-party clients (the official's one label on this counter).
      oauthAuthorization.inc({ clientFirstParty: 'false' })
      return this.#redirectUrl(row.parameters, [['code', code]])
    } catch (err) {
      this.store.deleteRequest(id)
      throw err
    }
  }

  /** The user refused: returns the redirect URL carrying error=access_denied. */
  async rejectAuthorization(requestUri: string): Promise<string> {
    const id = this.#requestId(requestUri)
    const row = this.store.readRequest(id)
    if (!row) throw invalidRequest('Unknown request_uri')
    this.store.deleteRequest(id)
    return this.#redirectUrl(row.parameters, [
      ['error', 'access_denied'],
      ['error_description', 'Access denied'],
    ])
  }

  #redirectUrl(parameters: OAuthAuthorizationRequestParameters, extra: Array<[string, string]>): string {
    const url = new URL(parameters.redirect_uri as string)
    const params: Array<[string, string]> = [['iss', this.issuer]]
    if (parameters.state) params.push(['state', parameters.state])
    params.push(...extra)
    if (parameters.response_mode === 'fragment') {
      url.hash = new URLSearchParams(params).toString()
    } else {
      // query, and form_post (whose form the pages build from these same parameters).
      for (const [k, v] of params) url.searchParams.set(k, v)
    }
    return url.href
  }

  /** Already granted every requested scope to this client (consent can be skipped unless prompt=consent). */
  isAlreadyAuthorized(did: string, clientId: string, scope: string): boolean {
    const data = this.store.getAuthorizedClient(did, clientId)
    if (!data) return false
    return scope
      .split(' ')
      .filter(Boolean)
      .every((s) => data.authorizedScopes.includes(s))
  }

  listAuthorizedClients(did: string): Array<{ clientId: string; clientName: string | null; scope: string; createdAt: string; updatedAt: string }> {
    return this.store.listAuthorizedClients(did).map((c) => ({
      clientId: c.clientId,
      clientName: this.#cachedClientName(c.clientId),
      scope: c.authorizedScopes.join(' '),
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
    }))
  }

  #cachedClientName(clientId: string): string | null {
    // Synchronous by contract: only a name already discovered is known; the pages may fetch more.
    return this.clients.peek(clientId)?.metadata.client_name ?? null
  }

  /** Revokes the client's grant and every token it holds for the account, at once. */
  revokeAuthorizedClient(did: string, clientId: string): void {
    this.store.deleteClientTokens(did, clientId)
    this.store.deleteAuthorizedClient(did, clientId)
  }

  /** Revokes one OAuth session (a token row) of the account, at once; false when the account has no such session. */
  revokeSession(did: string, tokenId: string): boolean {
    if (!isTokenId(tokenId)) return false
    return this.store.deleteAccountToken(did, tokenId)
  }

  // --- token endpoint ----------------------------------------------------------

  /** POST /oauth/token. */
  async token(payload: Record<string, unknown>, proof: DpopProof | null): Promise<TokenResponse> {
    const { oauthClientCredentialsSchema, oauthTokenRequestSchema } = oauthTypes()
    const creds = oauthClientCredentialsSchema.safeParse(payload)
    if (!creds.success) throw invalidGrant('Client credentials missing')
    const req = oauthTokenRequestSchema.safeParse(stripCredentials(payload))
    if (!req.success) throw invalidGrant(`Invalid request payload: ${describeZod(req.error)}`)
    const { client, clientAuth } = await this.#authenticateClient(creds.data as ClientCredentials, proof)
    const grant = req.data
    if (grant.grant_type !== 'authorization_code' && grant.grant_type !== 'refresh_token') {
      throw invalidGrant(`Grant type "${grant.grant_type}" is not supported by the server`)
    }
    if (!client.metadata.grant_types.includes(grant.grant_type)) {
      throw invalidGrant(`"${grant.grant_type}" grant type is not allowed for this client`)
    }
    if (grant.grant_type === 'authorization_code') {
      return this.#codeGrant(client, clientAuth, grant as { code: string; redirect_uri?: string; code_verifier?: string }, proof)
    }
    return this.#refreshGrant(client, clientAuth, (grant as { refresh_token: string }).refresh_token, proof)
  }

  #compareClientAuth(
    client: OAuthClient,
    clientAuth: ClientAuth,
    proof: DpopProof | null,
    initial: { clientId: string; clientAuth: ClientAuth | null; parameters: RequestParams },
    checkDpop = true,
  ): void {
    if (clientAuth.method !== client.metadata.token_endpoint_auth_method) {
      throw invalidGrant(`Client authentication method mismatch (expected ${client.metadata.token_endpoint_auth_method}, got ${clientAuth.method})`)
    }
    if (initial.clientId !== client.id) throw invalidGrant('Token was not issued to this client')
    if (checkDpop && initial.parameters.dpop_jkt) {
      if (!proof) throw invalidGrant('DPoP proof is required for this request')
      if (initial.parameters.dpop_jkt !== proof.jkt) throw invalidGrant('DPoP proof does not match the expected JKT')
    }
    const first = initial.clientAuth
    if (!first || first.method === 'none') return
    if (clientAuth.method !== 'private_key_jwt') throw invalidGrant(`Client authentication method mismatch (expected ${first.method})`)
    if (clientAuth.kid !== first.kid || clientAuth.alg !== first.alg || clientAuth.jkt !== first.jkt) {
      throw invalidGrant('The session was initiated with a different key than the client assertion currently used')
    }
  }

  async #codeGrant(
    client: OAuthClient,
    clientAuth: ClientAuth,
    input: { code: string; redirect_uri?: string; code_verifier?: string },
    proof: DpopProof | null,
  ): Promise<TokenResponse> {
    if (typeof input.code !== 'string' || !isCode(input.code)) throw invalidGrant('Invalid code')
    const code = input.code
    const data = this.store.consumeCode(code)
    if (!data) {
      // A code used twice: whatever was issued from it is revoked, and the device signed out (RFC 6749 §4.1.2).
      const issued = this.store.findTokenByCode(code)
      if (issued) {
        this.store.deleteToken(issued.tokenId)
        if (issued.deviceId) this.store.removeDeviceAccount(issued.deviceId, issued.did)
      }
      throw invalidGrant('Invalid code')
    }
    if (!data.did) throw invalidGrant('Invalid code')
    if (data.expiresAt < new Date()) throw invalidGrant('This code has expired')
    this.#compareClientAuth(client, clientAuth, proof, data)
    const parameters: RequestParams =
      proof && client.metadata.dpop_bound_access_tokens && !data.parameters.dpop_jkt ? { ...data.parameters, dpop_jkt: proof.jkt } : data.parameters
    this.#validateCodeGrant(parameters, input)
    const account = this.#accounts.getAccount(data.did, { includeDeactivated: true })
    if (!account) throw invalidGrant('Account not found')
    const tokens = await this.#createToken(client, clientAuth, data, parameters, code)
    sessionCreated.inc({ source: 'oauth' })
    return tokens
  }

  #validateCodeGrant(parameters: RequestParams, input: { redirect_uri?: string; code_verifier?: string }): void {
    if (parameters.redirect_uri !== input.redirect_uri) {
      throw invalidGrant('The redirect_uri parameter must match the one used in the authorization request')
    }
    if (!parameters.code_challenge) {
      if (input.code_verifier !== undefined) throw invalidRequest("code_challenge parameter wasn't provided")
      return
    }
    if (!input.code_verifier) throw invalidGrant('code_verifier is required')
    if (input.code_verifier.length < 43) throw invalidGrant('code_verifier too short')
    const expected = Buffer.from(parameters.code_challenge, 'base64url')
    const computed = createHash('sha256').update(input.code_verifier).digest()
    if (expected.length !== computed.length || !timingSafeEqual(expected, computed)) throw invalidGrant('Invalid code_verifier')
    if (!this.#challenges.unique(parameters.code_challenge, CODE_CHALLENGE_REPLAY_MS)) throw invalidGrant('Code challenge already used')
  }

  async #createToken(client: OAuthClient, clientAuth: ClientAuth, data: RequestRow, parameters: RequestParams, code: string): Promise<TokenResponse> {
    if (client.metadata.dpop_bound_access_tokens && !parameters.dpop_jkt) throw invalidGrant('DPoP JKT is required for DPoP bound access tokens')
    const did = data.did as string
    const tokenId = hexId('tok-', 16)
    const refreshToken = client.metadata.grant_types.includes('refresh_token') ? hexId('ref-', 32) : null
    const now = new Date()
    const expiresAt = new Date(now.getTime() + TOKEN_MAX_AGE_MS)
    const scope = (await this.#tokenScope(parameters.scope)) ?? 'atproto'
    this.store.createToken({
      did,
      tokenId,
      createdAt: now,
      updatedAt: now,
      expiresAt,
      clientId: client.id,
      clientAuth,
      deviceId: data.deviceId,
      parameters,
      code,
      currentRefreshToken: refreshToken,
      scope,
    })
    const accessToken = await this.#signAccessToken(tokenId, did, client.id, parameters.dpop_jkt, now, expiresAt)
    return this.#tokenResponse(accessToken, refreshToken, scope, expiresAt, did)
  }

  /** The granted scope with include: permission sets expanded (refreshed on every rotation, as official). */
  async #tokenScope(scope: string | undefined): Promise<string | undefined> {
    if (!this.#permissionSets) return scope
    try {
      return await this.#permissionSets.buildTokenScope(scope)
    } catch (err) {
      if (err instanceof OAuthError) throw invalidRequest(err.description)
      throw err
    }
  }

  #tokenResponse(accessToken: string, refreshToken: string | null, scope: string, expiresAt: Date, sub: string): TokenResponse {
    return {
      access_token: accessToken,
      token_type: 'DPoP',
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
      scope,
      expires_in: Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
      sub,
    }
  }

  async #signAccessToken(tokenId: string, did: string, clientId: string, jkt: string | undefined, iat: Date, exp: Date): Promise<string> {
    // The official's stateful mode: no scope in the token (read from the row on each request).
    const { SignJWT } = await loadJose()
    return new SignJWT({ ...(jkt ? { cnf: { jkt } } : {}), client_id: clientId })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setJti(tokenId)
      .setSubject(did)
      .setIssuedAt(Math.floor(iat.getTime() / 1000))
      .setExpirationTime(Math.floor(exp.getTime() / 1000))
      .setAudience(this.#serviceDid)
      .setIssuer(this.issuer)
      .sign(await this.#key)
  }

  async #refreshGrant(client: OAuthClient, clientAuth: ClientAuth, refreshToken: string, proof: DpopProof | null): Promise<TokenResponse> {
    if (typeof refreshToken !== 'string' || !isRefreshToken(refreshToken)) throw invalidGrant('Invalid refresh token')
    const token = this.store.findTokenByRefreshToken(refreshToken)
    if (!token) throw invalidGrant('Invalid refresh token')
    if (token.currentRefreshToken !== refreshToken) {
      // A used refresh token came back: someone holds a copy. The whole session goes.
      this.store.deleteToken(token.tokenId)
      throw invalidGrant('Refresh token replayed')
    }
    try {
      this.#compareClientAuth(client, clientAuth, proof, token)
      const confidential = clientAuth.method !== 'none'
      const sessionLifetime = confidential ? CONFIDENTIAL_CLIENT_SESSION_LIFETIME_MS : PUBLIC_CLIENT_SESSION_LIFETIME_MS
      const refreshLifetime = confidential ? CONFIDENTIAL_CLIENT_REFRESH_LIFETIME_MS : PUBLIC_CLIENT_REFRESH_LIFETIME_MS
      if (Date.now() - token.createdAt.getTime() > sessionLifetime) throw invalidGrant('Session expired')
      if (Date.now() - token.updatedAt.getTime() > refreshLifetime) throw invalidGrant('Refresh token expired')
      if (client.metadata.dpop_bound_access_tokens && !token.parameters.dpop_jkt) {
        throw invalidGrant('DPoP JKT is required for DPoP bound access tokens')
      }
      const account = this.#accounts.getAccount(token.did, { includeDeactivated: true })
      if (!account) throw invalidGrant('Account not found')
      const nextTokenId = hexId('tok-', 16)
      const nextRefresh = hexId('ref-', 32)
      const now = new Date()
      const expiresAt = new Date(now.getTime() + TOKEN_MAX_AGE_MS)
      const scope = (await this.#tokenScope(token.parameters.scope)) ?? token.scope ?? 'atproto'
      this.store.rotateToken(token.rowId, { tokenId: nextTokenId, refreshToken: nextRefresh, updatedAt: now, expiresAt, clientAuth, scope })
      const accessToken = await this.#signAccessToken(nextTokenId, token.did, client.id, token.parameters.dpop_jkt, now, expiresAt)
      return this.#tokenResponse(accessToken, nextRefresh, scope, expiresAt, token.did)
    } catch (err) {
      this.store.deleteToken(token.tokenId)
      throw err
    }
  }

  // --- revocation -----------------------------------------------------------------

  /**
   * POST /oauth/revoke (RFC 7009). A 200 means the token no longer works. The client must be
   * the one the token was issued to (and authenticate, when confidential), but no DPoP proof of
   * the token's key is needed: RFC 7009 asks for none, plain form POSTs send none, and the
   * official answered such requests 200 while the token went on working. Revoking takes
   * nothing its holder could not already take (a refresh attempt without the key ends the
   * session too). Client authentication failures are reported (RFC 7009 §2.2.1); unknown
   * tokens and other clients' tokens are not (§2.2).
   */
  async revoke(payload: Record<string, unknown>, proof: DpopProof | null): Promise<void> {
    const { oauthClientCredentialsSchema, oauthTokenIdentificationSchema } = oauthTypes()
    const creds = oauthClientCredentialsSchema.safeParse(payload)
    if (!creds.success) throw invalidRequest('Client credentials missing')
    const ident = oauthTokenIdentificationSchema.safeParse(stripCredentials(payload))
    if (!ident.success) throw invalidRequest('Invalid request payload')
    const { client, clientAuth } = await this.#authenticateClient(creds.data as ClientCredentials, proof, true)
    try {
      const token = await this.#findToken(ident.data.token)
      if (!token) return
      this.#compareClientAuth(client, clientAuth, proof, token, false)
      this.store.deleteToken(token.tokenId)
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err
    }
  }

  async #findToken(value: string): Promise<TokenRow | null> {
    if (isTokenId(value)) return this.store.readToken(value)
    if (isCode(value)) return this.store.findTokenByCode(value)
    if (isRefreshToken(value)) return this.store.findTokenByRefreshToken(value)
    if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(value)) {
      try {
        // Revoking an expired access token still works: the signature is what matters.
        const { jwtVerify } = await loadJose()
        const { payload } = await jwtVerify(value, await this.#key, { issuer: this.issuer, typ: 'at+jwt', clockTolerance: Number.MAX_SAFE_INTEGER })
        return typeof payload.jti === 'string' ? this.store.readToken(payload.jti) : null
      } catch {
        return null
      }
    }
    throw invalidRequest('Invalid token')
  }

  // --- resource server -----------------------------------------------------------

  /**
   * Verifies a `DPoP <token>` request to this PDS: the proof (with `ath`), the token's signature,
   * audience and key binding, and that its row still exists. Throws OAuthError (401 with a
   * WWW-Authenticate challenge).
   */
  async verifyResourceRequest(method: string, url: URL, headers: IncomingHttpHeaders): Promise<OAuthAccess> {
    const header = headers.authorization ?? ''
    const space = header.indexOf(' ')
    const type = header.slice(0, space)
    const token = header.slice(space + 1)
    if (space === -1 || type.toUpperCase() !== 'DPOP' || !token) throw invalidToken('Invalid authorization header')
    let proof: DpopProof | null
    try {
      proof = await this.dpop.check(method, url, headers, token)
    } catch (err) {
      if (err instanceof UseDpopNonceError) throw err.forResource()
      throw err
    }
    if (!proof) throw invalidDpopProof('DPoP proof required')
    const { errors: joseErrors, jwtVerify } = await loadJose()
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(token, await this.#key, {
        issuer: this.issuer,
        audience: this.#serviceDid,
        typ: 'at+jwt',
        algorithms: ['HS256'],
      }))
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw invalidToken('Token expired')
      throw invalidToken('Invalid token')
    }
    const { jti, sub, cnf } = payload as { jti?: unknown; sub?: unknown; cnf?: { jkt?: unknown } }
    if (typeof jti !== 'string' || typeof sub !== 'string') throw invalidToken('Invalid token')
    if (cnf?.jkt !== proof.jkt) throw invalidToken('Access token is bound to a different DPoP key')
    const row = this.store.readToken(jti)
    if (!row) throw invalidToken('Invalid token')
    if (row.did !== sub || row.parameters.dpop_jkt !== cnf.jkt) {
      this.store.deleteToken(jti)
      throw invalidToken('Invalid token')
    }
    if (row.expiresAt.getTime() < Date.now()) {
      this.store.deleteToken(jti)
      throw invalidToken('Token expired')
    }
    const scope = row.scope ?? row.parameters.scope ?? ''
    return { did: row.did, scope, clientId: row.clientId, tokenId: jti }
  }
}

/** The request parameters without the client authentication fields. */
function stripCredentials(payload: Record<string, unknown>): Record<string, unknown> {
  const { client_assertion: _a, client_assertion_type: _t, ...rest } = payload
  return rest
}

function describeZod(err: { issues: Array<{ path: Array<string | number>; message: string }> }): string {
  const issue = err.issues[0]
  return issue ? `${issue.path.join('.') || 'value'}: ${issue.message}` : 'invalid'
}
