// The account password (its scrypt string in the account table) and what changing it ends.
import { writeTx } from '../storage/sqlite.ts'
import { deleteEmailToken, findDidByEmailToken } from './email-tokens.ts'
import { deleteOAuthTokens } from './oauth-rows.ts'
import { revokeRefreshTokensByDid } from './refresh-tokens.ts'
import type { AccountTables } from './tables.ts'

/** The account password's scrypt string, or null. */
export function getPasswordHash(t: AccountTables, did: string): string | null {
  const row = t.q(`SELECT "passwordScrypt" FROM "account" WHERE "did" = ?`).get(did) as { passwordScrypt: string } | undefined
  return row?.passwordScrypt ?? null
}

/**
 * Replaces the account password. As the official PDS, this also drops any password-reset
 * token and revokes every refresh token (all sessions, app-password ones too); app passwords
 * themselves stay. Unlike the official, every OAuth session ends too (its access tokens are
 * refused from the next request on), and so do the sign-ins remembered on devices: whoever
 * knew the old password keeps nothing it let them open.
 */
export function updatePassword(t: AccountTables, did: string, passwordHash: string): void {
  writeTx(t.db, () => {
    t.q(`UPDATE "account" SET "passwordScrypt" = ? WHERE "did" = ?`).run(passwordHash, did)
    deleteEmailToken(t, did, 'reset_password')
    revokeRefreshTokensByDid(t, did)
    deleteOAuthTokens(t, did)
    t.q(`DELETE FROM "account_device" WHERE "did" = ?`).run(did)
  })
}

/**
 * resetPassword: finds the account by its `reset_password` token (400 InvalidToken /
 * ExpiredToken) and sets the password, atomically, so one token resets once. Returns the DID.
 */
export function resetPassword(t: AccountTables, token: string, passwordHash: string): string {
  return writeTx(t.db, () => {
    const did = findDidByEmailToken(t, 'reset_password', token)
    updatePassword(t, did, passwordHash)
    return did
  })
}
