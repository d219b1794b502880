// The app_password table, and the sessions made with app passwords (their refresh tokens carry
// the app password's name). The hash is deterministic per DID (see hashAppPassword in
// src/auth/password.ts), so a sign-in finds its app password by hash.
import { writeTx } from '../storage/sqlite.ts'
import { AccountConflictError } from './errors.ts'
import { deleteOAuthTokens } from './oauth-rows.ts'
import type { AccountTables } from './tables.ts'

export interface AppPasswordInfo {
  name: string
  privileged: boolean
}

export interface AppPasswordListItem extends AppPasswordInfo {
  createdAt: string
}

/** Stores an app password's hash. Throws AccountConflictError('appPassword') on a used name. */
export function createAppPassword(
  t: AccountTables,
  opts: { did: string; name: string; passwordHash: string; privileged: boolean },
): AppPasswordListItem {
  const createdAt = t.nowIso()
  const res = t.q(
    `INSERT INTO "app_password" ("did", "name", "passwordScrypt", "createdAt", "privileged") VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  ).run(opts.did, opts.name, opts.passwordHash, createdAt, opts.privileged ? 1 : 0)
  if (res.changes === 0) throw new AccountConflictError('appPassword')
  return { name: opts.name, createdAt, privileged: opts.privileged }
}

/** Newest first. */
export function listAppPasswords(t: AccountTables, did: string): AppPasswordListItem[] {
  const rows = t.q(
    `SELECT "name", "createdAt", "privileged" FROM "app_password" WHERE "did" = ? ORDER BY "createdAt" DESC`,
  ).all(did) as Array<{ name: string; createdAt: string; privileged: number }>
  return rows.map((r) => ({ name: r.name, createdAt: r.createdAt, privileged: r.privileged === 1 }))
}

/** The app password whose (deterministic, per-DID) hash this is. */
export function findAppPassword(t: AccountTables, did: string, passwordHash: string): AppPasswordInfo | null {
  const row = t.q(`SELECT "name", "privileged" FROM "app_password" WHERE "did" = ? AND "passwordScrypt" = ?`).get(
    did,
    passwordHash,
  ) as { name: string; privileged: number } | undefined
  return row ? { name: row.name, privileged: row.privileged === 1 } : null
}

/** Deletes the app password and every session made with it. Returns whether it existed. */
export function revokeAppPassword(t: AccountTables, did: string, name: string): boolean {
  return writeTx(t.db, () => {
    const res = t.q(`DELETE FROM "app_password" WHERE "did" = ? AND "name" = ?`).run(did, name)
    revokeAppPasswordRefreshTokens(t, did, name)
    return res.changes > 0
  })
}

/** Ends every session made with the app password. */
export function revokeAppPasswordRefreshTokens(t: AccountTables, did: string, appPasswordName: string): boolean {
  return t.q(`DELETE FROM "refresh_token" WHERE "did" = ? AND "appPasswordName" = ?`).run(did, appPasswordName).changes > 0
}

/**
 * What a deactivation through OAuth ends, as official 0.5 (deleteCredentials): every OAuth
 * session and authorized app, and every app password. Hearth also drops the app-password
 * sessions' refresh tokens (their access tokens are refused at once); sessions made with the
 * account password stay.
 */
export function deleteDelegatedCredentials(t: AccountTables, did: string): void {
  writeTx(t.db, () => {
    deleteOAuthTokens(t, did)
    t.q(`DELETE FROM "authorized_client" WHERE "did" = ?`).run(did)
    t.q(`DELETE FROM "app_password" WHERE "did" = ?`).run(did)
    t.q(`DELETE FROM "refresh_token" WHERE "did" = ? AND "appPasswordName" IS NOT NULL`).run(did)
  })
}
