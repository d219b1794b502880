// The apps an account can revoke on the account page: those it granted (authorized_client,
// through the provider) and those holding a live session (the official `token` table, which is
// what the official account page lists: loopback clients, for one, never get a grant row).
import type { OAuthProvider } from '../provider.ts'
import type { OAuthStore } from '../store.ts'

export interface AppAccess {
  clientId: string
  clientName: string | null
  scope: string
  createdAt: string
  updatedAt: string
}

export function listAppAccess(provider: OAuthProvider, tokens: OAuthStore, did: string, now = new Date()): AppAccess[] {
  const byClient = new Map<string, AppAccess>()
  for (const c of provider.listAuthorizedClients(did)) byClient.set(c.clientId, { ...c })
  for (const r of tokens.liveTokenClients(did, now)) {
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
export function listOAuthSessions(tokens: OAuthStore, did: string, apps: readonly AppAccess[]): OAuthSession[] {
  const names = new Map(apps.map((a) => [a.clientId, a.clientName]))
  return tokens.tokensOf(did).map((r) => ({ ...r, scope: r.scope ?? '', clientName: names.get(r.clientId) ?? null }))
}
