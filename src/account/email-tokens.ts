// The email_token table: the codes emailed to confirm an address, change it, reset the password,
// delete the account, sign a PLC operation or sign in with the second factor. One live token
// per (account, purpose), valid 15 minutes, upper-case `XXXXX-XXXXX`, as the official PDS.
import { writeTx } from '../storage/sqlite.ts'
import { invalidRequest } from '../errors.ts'
import { newRandomToken } from './random.ts'
import type { AccountTables } from './tables.ts'

const MINUTE = 60 * 1000

/** How long an emailed token is valid. */
export const EMAIL_TOKEN_TTL_MS = 15 * MINUTE

/** `auth_factor` is the official 0.5.36 purpose of an emailed sign-in code. */
export type EmailTokenPurpose = 'confirm_email' | 'update_email' | 'reset_password' | 'delete_account' | 'plc_operation' | 'auth_factor'

export type EmailTokenCheck = 'valid' | 'invalid' | 'expired'

/** A fresh `XXXXX-XXXXX` token for (did, purpose), replacing any earlier one. */
export function createEmailToken(t: AccountTables, did: string, purpose: EmailTokenPurpose): string {
  const requestedAt = t.nowIso()
  const upsert = t.q(
    `INSERT INTO "email_token" ("purpose", "did", "token", "requestedAt") VALUES (?, ?, ?, ?)
     ON CONFLICT ("purpose", "did") DO UPDATE SET "token" = excluded."token", "requestedAt" = excluded."requestedAt"`,
  )
  // A clash with another account's live token (50 random bits) breaks the (purpose, token)
  // unique constraint; draw again rather than fail.
  for (let attempt = 0; ; attempt++) {
    const token = newRandomToken().toUpperCase()
    try {
      upsert.run(purpose, did, token, requestedAt)
      return token
    } catch (err) {
      if (attempt >= 4 || (err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err
    }
  }
}

/** Whether `token` (any case) is the account's live token for `purpose`. */
export function checkEmailToken(t: AccountTables, did: string, purpose: EmailTokenPurpose, token: string): EmailTokenCheck {
  const row = t.q(`SELECT "requestedAt" FROM "email_token" WHERE "purpose" = ? AND "did" = ? AND "token" = ?`).get(
    purpose,
    did,
    token.toUpperCase(),
  ) as { requestedAt: string } | undefined
  if (!row) return 'invalid'
  return tokenFresh(t, row.requestedAt) ? 'valid' : 'expired'
}

function tokenFresh(t: AccountTables, requestedAt: string): boolean {
  return t.now() < Date.parse(requestedAt) + EMAIL_TOKEN_TTL_MS
}

/** 400 InvalidToken "Token is invalid" / 400 ExpiredToken "Token is expired", as official. */
export function assertValidEmailToken(t: AccountTables, did: string, purpose: EmailTokenPurpose, token: string): void {
  const check = checkEmailToken(t, did, purpose, token)
  if (check === 'invalid') throw invalidRequest('Token is invalid', 'InvalidToken')
  if (check === 'expired') throw invalidRequest('Token is expired', 'ExpiredToken')
}

/** Checks the token and deletes it in one transaction: a token works once. */
export function consumeEmailToken(t: AccountTables, did: string, purpose: EmailTokenPurpose, token: string): void {
  writeTx(t.db, () => {
    assertValidEmailToken(t, did, purpose, token)
    deleteEmailToken(t, did, purpose)
  })
}

/** The DID a token was issued to (for flows keyed by the token alone, e.g. reset_password). */
export function findDidByEmailToken(t: AccountTables, purpose: EmailTokenPurpose, token: string): string {
  const row = t.q(`SELECT "did", "requestedAt" FROM "email_token" WHERE "purpose" = ? AND "token" = ?`).get(
    purpose,
    token.toUpperCase(),
  ) as { did: string; requestedAt: string } | undefined
  if (!row) throw invalidRequest('Token is invalid', 'InvalidToken')
  if (!tokenFresh(t, row.requestedAt)) throw invalidRequest('Token is expired', 'ExpiredToken')
  return row.did
}

export function deleteEmailToken(t: AccountTables, did: string, purpose: EmailTokenPurpose): void {
  t.q(`DELETE FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).run(did, purpose)
}

export function deleteAllEmailTokens(t: AccountTables, did: string): void {
  t.q(`DELETE FROM "email_token" WHERE "did" = ?`).run(did)
}
