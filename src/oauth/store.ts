// The OAuth rows in account.sqlite, with the official PDS's columns and encodings (ISO dates,
// JSON text for clientAuth/parameters/data), so sessions survive a switch between the two.
import type { OAuthAuthorizationRequestParameters } from '@atproto/oauth-types'
import { type Db, writeTx } from '../storage/sqlite.ts'
import type { ClientAuth } from './client.ts'

export interface RequestRow {
  id: string
  did: string | null
  deviceId: string | null
  clientId: string
  clientAuth: ClientAuth | null
  parameters: OAuthAuthorizationRequestParameters
  expiresAt: Date
  code: string | null
}

export interface TokenRow {
  /** The integer row id (used_refresh_token's foreign key). */
  rowId: number
  did: string
  /** The current access token's `jti`. */
  tokenId: string
  createdAt: Date
  updatedAt: Date
  expiresAt: Date
  clientId: string
  clientAuth: ClientAuth
  deviceId: string | null
  parameters: OAuthAuthorizationRequestParameters & { dpop_jkt?: string }
  code: string | null
  currentRefreshToken: string | null
  scope: string | null
}

interface RawToken {
  id: number
  did: string
  tokenId: string
  createdAt: string
  updatedAt: string
  expiresAt: string
  clientId: string
  clientAuth: string
  deviceId: string | null
  parameters: string
  code: string | null
  currentRefreshToken: string | null
  scope: string | null
}

function toToken(r: RawToken): TokenRow {
  return {
    rowId: r.id,
    did: r.did,
    tokenId: r.tokenId,
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
    expiresAt: new Date(r.expiresAt),
    clientId: r.clientId,
    clientAuth: JSON.parse(r.clientAuth) as ClientAuth,
    deviceId: r.deviceId,
    parameters: JSON.parse(r.parameters) as TokenRow['parameters'],
    code: r.code,
    currentRefreshToken: r.currentRefreshToken,
    scope: r.scope,
  }
}

export class OAuthStore {
  constructor(readonly db: Db) {}

  // What the account page lists

  /** Per client, the account's unexpired tokens: first issued, last used, and their scopes joined. */
  liveTokenClients(did: string, now: Date): Array<{ clientId: string; createdAt: string; updatedAt: string; scope: string | null }> {
    return this.db
      .prepare(
        `SELECT "clientId", min("createdAt") AS "createdAt", max("updatedAt") AS "updatedAt",
                group_concat(coalesce("scope", json_extract("parameters", '$.scope')), ' ') AS "scope"
         FROM "token" WHERE "did" = ? AND "expiresAt" > ? GROUP BY "clientId"`,
      )
      .all(did, now.toISOString()) as Array<{ clientId: string; createdAt: string; updatedAt: string; scope: string | null }>
  }

  /** The account's token rows (one per OAuth session), newest first. */
  tokensOf(did: string): Array<{ tokenId: string; clientId: string; scope: string | null; createdAt: string; updatedAt: string; expiresAt: string }> {
    return this.db
      .prepare(
        `SELECT "tokenId", "clientId", coalesce("scope", json_extract("parameters", '$.scope')) AS "scope", "createdAt", "updatedAt", "expiresAt"
         FROM "token" WHERE "did" = ? ORDER BY "updatedAt" DESC, "id" DESC`,
      )
      .all(did) as Array<{ tokenId: string; clientId: string; scope: string | null; createdAt: string; updatedAt: string; expiresAt: string }>
  }

  // Authorization requests
  createRequest(row: RequestRow): void {
    this.db
      .prepare(
        `INSERT INTO "authorization_request" ("id", "did", "deviceId", "clientId", "clientAuth", "parameters", "expiresAt", "code") VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(row.id, row.did, row.deviceId, row.clientId, JSON.stringify(row.clientAuth), JSON.stringify(row.parameters), row.expiresAt.toISOString(), row.code)
    // Housekeeping, as the official: requests expired for over ten minutes go.
    this.db.prepare(`DELETE FROM "authorization_request" WHERE "expiresAt" < ?`).run(new Date(Date.now() - 600_000).toISOString())
  }

  readRequest(id: string): RequestRow | null {
    const r = this.db.prepare(`SELECT * FROM "authorization_request" WHERE "id" = ?`).get(id) as
      | { id: string; did: string | null; deviceId: string | null; clientId: string; clientAuth: string; parameters: string; expiresAt: string; code: string | null }
      | undefined
    if (!r) return null
    return {
      id: r.id,
      did: r.did,
      deviceId: r.deviceId,
      clientId: r.clientId,
      clientAuth: JSON.parse(r.clientAuth) as ClientAuth | null,
      parameters: JSON.parse(r.parameters) as OAuthAuthorizationRequestParameters,
      expiresAt: new Date(r.expiresAt),
      code: r.code,
    }
  }

  updateRequest(id: string, u: { did?: string; deviceId?: string; code?: string; expiresAt?: Date; parameters?: OAuthAuthorizationRequestParameters }): void {
    const fields: Array<[string, unknown]> = []
    if (u.did !== undefined) fields.push(['did', u.did])
    if (u.deviceId !== undefined) fields.push(['deviceId', u.deviceId])
    if (u.code !== undefined) fields.push(['code', u.code])
    if (u.expiresAt !== undefined) fields.push(['expiresAt', u.expiresAt.toISOString()])
    if (u.parameters !== undefined) fields.push(['parameters', JSON.stringify(u.parameters)])
    const sets = fields.map(([name]) => `"${name}" = ?`)
    const args = fields.map(([, value]) => value)
    if (!sets.length) return
    this.db.prepare(`UPDATE "authorization_request" SET ${sets.join(', ')} WHERE "id" = ?`).run(...args, id)
  }

  deleteRequest(id: string): void {
    this.db.prepare(`DELETE FROM "authorization_request" WHERE "id" = ?`).run(id)
  }

  /** Removes and returns the request holding this code: a code works once. */
  consumeCode(code: string): RequestRow | null {
    return writeTx(this.db, () => {
      const r = this.db.prepare(`SELECT "id" FROM "authorization_request" WHERE "code" = ?`).get(code) as { id: string } | undefined
      if (!r) return null
      const row = this.readRequest(r.id)
      this.deleteRequest(r.id)
      return row
    })
  }

  // Tokens
  createToken(t: Omit<TokenRow, 'rowId'>): void {
    writeTx(this.db, () => {
      if (t.currentRefreshToken && this.db.prepare(`SELECT 1 FROM "used_refresh_token" WHERE "refreshToken" = ?`).get(t.currentRefreshToken)) {
        throw new Error('Refresh token already in use')
      }
      this.db
        .prepare(
          `INSERT INTO "token" ("did", "tokenId", "createdAt", "updatedAt", "expiresAt", "clientId", "clientAuth", "deviceId", "parameters", "details", "code", "currentRefreshToken", "scope") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
        )
        .run(
          t.did,
          t.tokenId,
          t.createdAt.toISOString(),
          t.updatedAt.toISOString(),
          t.expiresAt.toISOString(),
          t.clientId,
          JSON.stringify(t.clientAuth),
          t.deviceId,
          JSON.stringify(t.parameters),
          t.code,
          t.currentRefreshToken,
          t.scope,
        )
    })
  }

  readToken(tokenId: string): TokenRow | null {
    const r = this.db.prepare(`SELECT * FROM "token" WHERE "tokenId" = ?`).get(tokenId) as RawToken | undefined
    return r ? toToken(r) : null
  }

  findTokenByCode(code: string): TokenRow | null {
    const r = this.db.prepare(`SELECT * FROM "token" WHERE "code" = ?`).get(code) as RawToken | undefined
    return r ? toToken(r) : null
  }

  /** The token a refresh token belongs or belonged to (a used one is found through used_refresh_token). */
  findTokenByRefreshToken(refreshToken: string): TokenRow | null {
    const used = this.db.prepare(`SELECT "tokenId" FROM "used_refresh_token" WHERE "refreshToken" = ?`).get(refreshToken) as
      | { tokenId: number }
      | undefined
    const r = (
      used
        ? this.db.prepare(`SELECT * FROM "token" WHERE "id" = ?`).get(used.tokenId)
        : this.db.prepare(`SELECT * FROM "token" WHERE "currentRefreshToken" = ?`).get(refreshToken)
    ) as RawToken | undefined
    return r ? toToken(r) : null
  }

  /** Rotates in one transaction: the old refresh token is recorded as used. */
  rotateToken(rowId: number, next: { tokenId: string; refreshToken: string; updatedAt: Date; expiresAt: Date; clientAuth: ClientAuth; scope: string | null }): void {
    writeTx(this.db, () => {
      const cur = this.db.prepare(`SELECT "currentRefreshToken" FROM "token" WHERE "id" = ?`).get(rowId) as
        | { currentRefreshToken: string | null }
        | undefined
      if (!cur) throw new Error('token not found')
      if (cur.currentRefreshToken) {
        this.db.prepare(`INSERT INTO "used_refresh_token" ("refreshToken", "tokenId") VALUES (?, ?) ON CONFLICT DO NOTHING`).run(cur.currentRefreshToken, rowId)
      }
      this.db
        .prepare(`UPDATE "token" SET "tokenId" = ?, "currentRefreshToken" = ?, "updatedAt" = ?, "expiresAt" = ?, "clientAuth" = ?, "scope" = ? WHERE "id" = ?`)
        .run(next.tokenId, next.refreshToken, next.updatedAt.toISOString(), next.expiresAt.toISOString(), JSON.stringify(next.clientAuth), next.scope, rowId)
    })
  }

  /** Deletes the token (its used refresh tokens cascade). */
  deleteToken(tokenId: string): void {
    this.db.prepare(`DELETE FROM "token" WHERE "tokenId" = ?`).run(tokenId)
  }

  /** Deletes one of the account's tokens; false when it has no such token. */
  deleteAccountToken(did: string, tokenId: string): boolean {
    return this.db.prepare(`DELETE FROM "token" WHERE "did" = ? AND "tokenId" = ?`).run(did, tokenId).changes > 0
  }

  deleteClientTokens(did: string, clientId: string): void {
    this.db.prepare(`DELETE FROM "token" WHERE "did" = ? AND "clientId" = ?`).run(did, clientId)
  }

  // Authorized clients ({ authorizedScopes } in "data", as official)
  getAuthorizedClient(did: string, clientId: string): { authorizedScopes: string[] } | null {
    const r = this.db.prepare(`SELECT "data" FROM "authorized_client" WHERE "did" = ? AND "clientId" = ?`).get(did, clientId) as
      | { data: string }
      | undefined
    if (!r) return null
    try {
      const data = JSON.parse(r.data) as { authorizedScopes?: unknown }
      return { authorizedScopes: Array.isArray(data.authorizedScopes) ? data.authorizedScopes.map(String) : [] }
    } catch {
      return { authorizedScopes: [] }
    }
  }

  setAuthorizedClient(did: string, clientId: string, data: { authorizedScopes: string[] }): void {
    const now = new Date().toISOString()
    this.db
      .prepare(
        `INSERT INTO "authorized_client" ("did", "clientId", "createdAt", "updatedAt", "data") VALUES (?, ?, ?, ?, ?)
         ON CONFLICT ("did", "clientId") DO UPDATE SET "updatedAt" = excluded."updatedAt", "data" = excluded."data"`,
      )
      .run(did, clientId, now, now, JSON.stringify(data))
  }

  listAuthorizedClients(did: string): Array<{ clientId: string; createdAt: string; updatedAt: string; authorizedScopes: string[] }> {
    const rows = this.db
      .prepare(`SELECT "clientId", "createdAt", "updatedAt", "data" FROM "authorized_client" WHERE "did" = ? ORDER BY "updatedAt" DESC`)
      .all(did) as Array<{ clientId: string; createdAt: string; updatedAt: string; data: string }>
    return rows.map((r) => {
      let scopes: string[] = []
      try {
        const d = JSON.parse(r.data) as { authorizedScopes?: unknown }
        if (Array.isArray(d.authorizedScopes)) scopes = d.authorizedScopes.map(String)
      } catch {
        // unreadable data: no scopes
      }
      return { clientId: r.clientId, createdAt: r.createdAt, updatedAt: r.updatedAt, authorizedScopes: scopes }
    })
  }

  deleteAuthorizedClient(did: string, clientId: string): void {
    this.db.prepare(`DELETE FROM "authorized_client" WHERE "did" = ? AND "clientId" = ?`).run(did, clientId)
  }

  /** As official on code replay: the device is signed out of the account. */
  removeDeviceAccount(deviceId: string, did: string): void {
    this.db.prepare(`DELETE FROM "account_device" WHERE "deviceId" = ? AND "did" = ?`).run(deviceId, did)
  }
}
