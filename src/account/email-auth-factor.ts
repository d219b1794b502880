// Email two-factor sign-in (official 0.5.36): the account_email_auth_factor table, which exists
// only once an account has turned the factor on (Hearth applies its migration then; see db.ts,
// emailAuthFactorMigration).
import { writeTx } from '../storage/sqlite.ts'
import { ensureEmailAuthFactorTable } from './db.ts'
import { assertValidEmailToken, deleteEmailToken } from './email-tokens.ts'
import type { AccountTables } from './tables.ts'

function hasFactorTable(t: AccountTables): boolean {
  return t.q(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account_email_auth_factor'`).get() !== undefined
}

export function deleteEmailAuthFactor(t: AccountTables, did: string): void {
  if (hasFactorTable(t)) t.q(`DELETE FROM "account_email_auth_factor" WHERE "did" = ?`).run(did)
}

/** When the account turned email two-factor sign-in on, or null while it is off. */
export function getEmailAuthFactor(t: AccountTables, did: string): string | null {
  if (!hasFactorTable(t)) return null
  const row = t.q(`SELECT "emailAuthFactorEnabledAt" FROM "account_email_auth_factor" WHERE "did" = ?`).get(did) as
    | { emailAuthFactorEnabledAt: string }
    | undefined
  return row?.emailAuthFactorEnabledAt ?? null
}

/**
 * Turns the factor on, provided `email` is still the account's address and is confirmed (one
 * statement, so a concurrent email change cannot slip between check and write). Enabling
 * again keeps the first timestamp. Returns the stored timestamp, or null when the guard failed.
 */
export function enableEmailAuthFactor(t: AccountTables, did: string, email: string): string | null {
  ensureEmailAuthFactorTable(t.db)
  const row = t.q(
    `INSERT INTO "account_email_auth_factor" ("did", "emailAuthFactorEnabledAt")
     SELECT "did", ? FROM "account" WHERE "did" = ? AND "email" = ? AND "emailConfirmedAt" IS NOT NULL
     ON CONFLICT ("did") DO UPDATE SET "emailAuthFactorEnabledAt" = "account_email_auth_factor"."emailAuthFactorEnabledAt"
     RETURNING "emailAuthFactorEnabledAt"`,
    // all(), not get(): a statement outside a transaction left at its first row never reaches
    // SQLite's WAL hook, so it would skip the auto-checkpoint (see the event log's append).
  ).all(t.nowIso(), did, email.toLowerCase())[0] as { emailAuthFactorEnabledAt: string } | undefined
  return row?.emailAuthFactorEnabledAt ?? null
}

/** Checks and consumes an `update_email` code, then turns the factor off, in one transaction. */
export function disableEmailAuthFactor(t: AccountTables, did: string, token: string): void {
  writeTx(t.db, () => {
    assertValidEmailToken(t, did, 'update_email', token)
    deleteEmailToken(t, did, 'update_email')
    deleteEmailAuthFactor(t, did)
  })
}
