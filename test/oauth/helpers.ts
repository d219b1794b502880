// A hand-driven OAuth client for the protocol tests: jose-made DPoP proofs, PKCE, PAR, token,
// refresh and revoke requests, and DPoP-authenticated XRPC calls, with the server nonce handled
// the way real clients do (retry once on use_dpop_nonce).
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign as cryptoSign } from 'node:crypto'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

export interface DpopKey {
  privateKey: PrivateKey
  jwk: JWK
  /** Set for secp256k1 keys, which jose (WebCrypto) cannot sign with. */
  k256?: KeyObject
}

/** A secp256k1 key: the official client library's first choice of DPoP algorithm. */
export function makeK256DpopKey(): DpopKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
  return { privateKey: undefined as unknown as PrivateKey, jwk: { kty, crv, x, y }, k256: privateKey }
}

/** A compact ES256K JWS (jose on WebCrypto cannot sign with secp256k1). */
export function signK256Jwt(key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${enc(header)}.${enc(payload)}`
  const sig = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${sig.toString('base64url')}`
}

export async function makeDpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { privateKey, jwk: await exportJWK(publicKey) }
}

export interface ProofOptions {
  htm: string
  htu: string
  nonce?: string
  ath?: string
  jti?: string
  /** Seconds since the epoch. */
  iat?: number
  typ?: string
}

export async function dpopProof(key: DpopKey, o: ProofOptions): Promise<string> {
  if (key.k256) {
    return signK256Jwt(key.k256, { alg: 'ES256K', typ: o.typ ?? 'dpop+jwt', jwk: key.jwk }, {
      htm: o.htm,
      htu: o.htu,
      ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
      ...(o.ath !== undefined ? { ath: o.ath } : {}),
      jti: o.jti ?? randomUUID(),
      iat: o.iat ?? Math.floor(Date.now() / 1000),
    })
  }
  return new SignJWT({
    htm: o.htm,
    htu: o.htu,
    ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
    ...(o.ath !== undefined ? { ath: o.ath } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? 'dpop+jwt', jwk: key.jwk })
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(o.iat ?? Math.floor(Date.now() / 1000))
    .sign(key.privateKey)
}

export const ath = (token: string) => createHash('sha256').update(token).digest('base64url')

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** A loopback development client id (no metadata document to serve). */
export function loopbackClientId(scope: string, redirectUri = 'http://127.0.0.1/callback'): string {
  return `http://localhost?${new URLSearchParams({ redirect_uri: redirectUri, scope }).toString()}`
}

export interface JsonResponse {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

async function asJson(res: Response): Promise<JsonResponse> {
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {}
  } catch {
    body = { raw: text }
  }
  return { status: res.status, headers: res.headers, body }
}

export class TestOAuthClient {
  nonce: string | undefined
  constructor(
    readonly base: string,
    readonly clientId: string,
    readonly key: DpopKey,
    readonly redirectUri = 'http://127.0.0.1/callback',
  ) {}

  /** POSTs a form to an AS endpoint with a fresh DPoP proof; retries once on use_dpop_nonce. */
  async post(path: string, form: Record<string, string>, o: { proof?: (p: ProofOptions) => Promise<string | null>; retry?: boolean } = {}): Promise<JsonResponse> {
    const url = `${this.base}${path}`
    const send = async () => {
      const opts: ProofOptions = { htm: 'POST', htu: url, nonce: this.nonce }
      const proof = o.proof ? await o.proof(opts) : await dpopProof(this.key, opts)
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
      if (proof) headers.dpop = proof
      const res = await asJson(await fetch(url, { method: 'POST', headers, body: new URLSearchParams(form).toString() }))
      const n = res.headers.get('dpop-nonce')
      if (n) this.nonce = n
      return res
    }
    let res = await send()
    if (o.retry !== false && res.status === 400 && res.body.error === 'use_dpop_nonce') res = await send()
    return res
  }

  async par(scope: string, extra: Record<string, string> = {}): Promise<{ res: JsonResponse; verifier: string; state: string }> {
    const { verifier, challenge } = pkce()
    const state = randomBytes(8).toString('hex')
    const res = await this.post('/oauth/par', {
      client_id: this.clientId,
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    })
    return { res, verifier, state }
  }

  async exchange(code: string, verifier: string, extra: Record<string, string> = {}): Promise<JsonResponse> {
    return this.post('/oauth/token', {
      client_id: this.clientId,
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.redirectUri,
      code_verifier: verifier,
      ...extra,
    })
  }

  async refresh(refreshToken: string): Promise<JsonResponse> {
    return this.post('/oauth/token', { client_id: this.clientId, grant_type: 'refresh_token', refresh_token: refreshToken })
  }

  async revoke(token: string): Promise<JsonResponse> {
    return this.post('/oauth/revoke', { client_id: this.clientId, token })
  }

  /** An XRPC call with `Authorization: DPoP`; retries once on use_dpop_nonce (401). */
  async xrpc(
    method: 'GET' | 'POST',
    nsid: string,
    token: string,
    o: { body?: unknown; rawBody?: Uint8Array; contentType?: string; query?: string; proof?: (p: ProofOptions) => Promise<string>; retry?: boolean } = {},
  ): Promise<JsonResponse> {
    const url = `${this.base}/xrpc/${nsid}${o.query ? `?${o.query}` : ''}`
    const send = async () => {
      const opts: ProofOptions = { htm: method, htu: `${this.base}/xrpc/${nsid}`, nonce: this.nonce, ath: ath(token) }
      const proof = o.proof ? await o.proof(opts) : await dpopProof(this.key, opts)
      const headers: Record<string, string> = { authorization: `DPoP ${token}`, dpop: proof }
      let body: string | Uint8Array | undefined
      if (o.rawBody) {
        body = o.rawBody
        headers['content-type'] = o.contentType ?? 'application/octet-stream'
      } else if (o.body !== undefined) {
        body = JSON.stringify(o.body)
        headers['content-type'] = 'application/json'
      }
      const res = await asJson(await fetch(url, { method, headers, body }))
      const n = res.headers.get('dpop-nonce')
      if (n) this.nonce = n
      return res
    }
    let res = await send()
    if (o.retry !== false && res.status === 401 && res.body.error === 'use_dpop_nonce') res = await send()
    return res
  }
}

/** The `code` of an authorization response URL (query or fragment). */
export function codeFrom(redirectUrl: string): string {
  const url = new URL(redirectUrl)
  const params = url.searchParams.has('code') ? url.searchParams : new URLSearchParams(url.hash.slice(1))
  const code = params.get('code')
  if (!code) throw new Error(`no code in ${redirectUrl}`)
  return code
}
