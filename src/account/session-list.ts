// The account page's list of an account's live sessions from createSession (its password or an
// app password): the newest token of each refresh chain that has not expired. Read-only.
import type { Db } from '../storage/sqlite.ts'

export interface PasswordSession {
  /** The refresh token id (the session id access tokens are bound to). */
  id: string
  expiresAt: string
  appPasswordName: string | null
}

export function listPasswordSessions(db: Db, did: string, now = new Date()): PasswordSession[] {
  return db
    .prepare(
      `SELECT "id", "expiresAt", "appPasswordName" FROM "refresh_token"
       WHERE "did" = ? AND "nextId" IS NULL AND "expiresAt" > ? ORDER BY "expiresAt" DESC, "id"`,
    )
    .all(did, now.toISOString()) as PasswordSession[]
}
