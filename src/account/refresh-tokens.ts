// The refresh_token table: the sessions made by createSession (with the account password or an
// app password). A Hearth access token is bound to its session's refresh token, so deleting the
// row ends the session at once. Rotation follows the official PDS: a rotated token stays usable
// for a grace period and always leads to the same successor.
import { writeTx } from '../storage/sqlite.ts'
import type { AppPasswordInfo } from './app-passwords.ts'
import { newRefreshTokenId } from './random.ts'
import type { AccountTables } from './tables.ts'

const HOUR = 60 * 60 * 1000

/** How long a rotated refresh token stays usable (a client retrying a refresh gets the same next token). */
export const REFRESH_GRACE_MS = 2 * HOUR

export interface RefreshTokenRow {
  id: string
  did: string
  expiresAt: string
  nextId: string | null
  appPassword: AppPasswordInfo | null
}

export interface RotatedRefreshToken {
  did: string
  /** The next token's id: the same on every reuse of the old token within its grace period. */
  nextId: string
  appPassword: AppPasswordInfo | null
}

export function storeRefreshToken(
  t: AccountTables,
  token: { id: string; did: string; expiresAt: string; appPasswordName: string | null },
): void {
  insertRefreshToken(t, token.id, token.did, token.expiresAt, token.appPasswordName)
}

export function insertRefreshToken(t: AccountTables, id: string, did: string, expiresAt: string, appPasswordName: string | null): void {
  t.q(
    `INSERT INTO "refresh_token" ("id", "did", "expiresAt", "appPasswordName") VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  ).run(id, did, expiresAt, appPasswordName)
}

export function getRefreshToken(t: AccountTables, id: string): RefreshTokenRow | null {
  const row = t.q(
    `SELECT r."id", r."did", r."expiresAt", r."nextId", r."appPasswordName", p."privileged"
     FROM "refresh_token" r LEFT JOIN "app_password" p ON p."did" = r."did" AND p."name" = r."appPasswordName"
     WHERE r."id" = +?`, // `+?`: SQLite 3.54 would compile the join again on every run (LIMIT_PARAM)
  ).get(id) as
    | { id: string; did: string; expiresAt: string; nextId: string | null; appPasswordName: string | null; privileged: number | null }
    | undefined
  if (!row) return null
  return {
    id: row.id,
    did: row.did,
    expiresAt: row.expiresAt,
    nextId: row.nextId,
    appPassword: row.appPasswordName ? { name: row.appPasswordName, privileged: row.privileged === 1 } : null,
  }
}

/**
 * The session a Hearth access token is bound to (its refresh token), if it still exists: one
 * primary-key lookup per request, so ending a session (logout, app password revoked, password
 * reset, takedown, account deletion) refuses its access tokens at once.
 */
export function getSession(t: AccountTables, id: string): { did: string; appPasswordName: string | null } | null {
  return (
    (t.q(`SELECT "did", "appPasswordName" FROM "refresh_token" WHERE "id" = ?`).get(id) as
      | { did: string; appPasswordName: string | null }
      | undefined) ?? null
  )
}

/**
 * Rotates a refresh token, as the official PDS: the old token's expiry is cut to at most
 * REFRESH_GRACE_MS from now and it is linked to its successor, so a client that retries within
 * that window gets the same successor id; the successor is stored with `nextExpiresAt` (the new
 * JWT's exp). The account's expired tokens are deleted on the way. Null when the token is
 * unknown, revoked, past its (grace) expiry, rotated to a successor that was revoked since, or
 * (with `did`) someone else's.
 */
export function rotateRefreshToken(
  t: AccountTables,
  id: string,
  opts: { nextExpiresAt: string; did?: string },
): RotatedRefreshToken | null {
  return writeTx(t.db, () => {
    const token = getRefreshToken(t, id)
    if (!token || (opts.did !== undefined && token.did !== opts.did)) return null
    const now = t.now()
    deleteExpiredRefreshTokens(t, token.did)
    const expiresAt = Math.min(now + REFRESH_GRACE_MS, Date.parse(token.expiresAt))
    if (!(expiresAt > now)) return null
    // A successor always outlives its predecessor's grace period, so a missing one was revoked
    // (by a logout, or by a server that deletes only the newest token): the session is over,
    // and re-inserting the successor would bring the logged-out token back to life.
    if (token.nextId !== null && !getSession(t, token.nextId)) {
      deleteRefreshFamily(t, id, token.did)
      return null
    }
    const nextId = token.nextId ?? newRefreshTokenId()
    t.q(`UPDATE "refresh_token" SET "expiresAt" = ?, "nextId" = ? WHERE "id" = ?`).run(
      new Date(expiresAt).toISOString(),
      nextId,
      id,
    )
    insertRefreshToken(t, nextId, token.did, opts.nextExpiresAt, token.appPassword?.name ?? null)
    return { did: token.did, nextId, appPassword: token.appPassword }
  })
}

/**
 * Ends the session a refresh token belongs to: the token and its whole rotation chain, both
 * the tokens it was rotated from (still usable in their grace period) and those rotated from
 * it, so no access token minted from any of them works any more. `did` is the token's owner
 * (from its JWT); without it the row's own is used. Returns whether anything was deleted.
 */
export function revokeRefreshToken(t: AccountTables, id: string, did?: string): boolean {
  return writeTx(t.db, () => {
    const owner = did ?? getSession(t, id)?.did
    return owner !== undefined && deleteRefreshFamily(t, id, owner) > 0
  })
}

/**
 * Deletes `id` and every token linked to it through `nextId`, in both directions. Rotation
 * makes a chain, not a tree (a retried refresh gets the same successor), and the walk back
 * stays on the owner's rows through the `did` index.
 */
function deleteRefreshFamily(t: AccountTables, id: string, did: string): number {
  return t.q(
    `WITH RECURSIVE
       "later"("id") AS (
         SELECT ? UNION
         SELECT r."nextId" FROM "refresh_token" r JOIN "later" l ON r."id" = l."id" WHERE r."nextId" IS NOT NULL),
       "earlier"("id") AS (
         SELECT ? UNION
         SELECT r."id" FROM "refresh_token" r JOIN "earlier" e ON r."nextId" = e."id" WHERE r."did" = +?)
     DELETE FROM "refresh_token"
     WHERE "did" = +? AND "id" IN (SELECT "id" FROM "later" UNION SELECT "id" FROM "earlier")`,
  ).run(id, id, did, did).changes
}

/** Ends every session of the account (app-password ones too). */
export function revokeRefreshTokensByDid(t: AccountTables, did: string): boolean {
  return t.q(`DELETE FROM "refresh_token" WHERE "did" = ?`).run(did).changes > 0
}

/** Deletes the account's refresh tokens that have expired. */
export function deleteExpiredRefreshTokens(t: AccountTables, did: string): number {
  return t.q(`DELETE FROM "refresh_token" WHERE "did" = ? AND "expiresAt" <= ?`).run(did, t.nowIso()).changes
}
