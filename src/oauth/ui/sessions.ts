// The apps an account can revoke on the account page: those it granted (authorized_client,
// through the provider) and those holding a live session (the official `token` table, which is
// what the official account page lists: loopback clients, for one, never get a grant row).
import type { OAuthProvider } from '../provider.ts'
import type { Db } from '../../storage/sqlite.ts'

export interface AppAccess {
  clientId: string
  clientName: string | null
  scope: string
  createdAt: string
  updatedAt: string
}

export function listAppAccess(db: Db, provider: OAuthProvider, did: string, now = new Date()): AppAccess[] {
  const byClient = new Map<string, AppAccess>()
  for (const c of provider.listAuthorizedClients(did)) byClient.set(c.clientId, { ...c })
  const rows = db
    .prepare(
      `SELECT "clientId", min("createdAt") AS "createdAt", max("updatedAt") AS "updatedAt",
              group_concat(coalesce("scope", json_extract("parameters", '$.scope')), ' ') AS "scope"
       FROM "token" WHERE "did" = ? AND "expiresAt" > ? GROUP BY "clientId"`,
    )
    .all(did, now.toISOString()) as Array<{ clientId: string; createdAt: string; updatedAt: string; scope: string | null }>
  for (const r of rows) {
    const existing = byClient.get(r.clientId)
    if (existing) {
      if (r.updatedAt > existing.updatedAt) existing.updatedAt = r.updatedAt
      continue
    }
    const scope = [...new Set((r.scope ?? '').split(' ').filter(Boolean))].join(' ')
    byClient.set(r.clientId, { clientId: r.clientId, clientName: null, scope, createdAt: r.createdAt, updatedAt: r.updatedAt })
  }
  return [...byClient.values()].sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0))
}

export interface OAuthSession {
  tokenId: string
  clientId: string
  clientName: string | null
  scope: string
  createdAt: string
  updatedAt: string
  expiresAt: string
}

/** The account's OAuth sessions (one per token row, as the official ~api/oauth-sessions lists them), newest first. */
export function listOAuthSessions(db: Db, did: string, apps: readonly AppAccess[]): OAuthSession[] {
  const names = new Map(apps.map((a) => [a.clientId, a.clientName]))
  const rows = db
    .prepare(
      `SELECT "tokenId", "clientId", coalesce("scope", json_extract("parameters", '$.scope')) AS "scope", "createdAt", "updatedAt", "expiresAt"
       FROM "token" WHERE "did" = ? ORDER BY "updatedAt" DESC, "id" DESC`,
    )
    .all(did) as Array<Omit<OAuthSession, 'clientName'> & { scope: string | null }>
  return rows.map((r) => ({ ...r, scope: r.scope ?? '', clientName: names.get(r.clientId) ?? null }))
}
