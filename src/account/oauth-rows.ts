// The account's rows in the OAuth tables (src/oauth/ owns them; the official schema keeps them in
// account.sqlite) that account changes end: a password change, a takedown, a deletion and an
// OAuth deactivation all revoke the account's OAuth tokens.
import type { AccountTables } from './tables.ts'

/** OAuth tokens and their used-refresh-token records (spelled out: the cascade needs foreign keys on). */
export function deleteOAuthTokens(t: AccountTables, did: string): void {
  t.q(`DELETE FROM "used_refresh_token" WHERE "tokenId" IN (SELECT "id" FROM "token" WHERE "did" = ?)`).run(did)
  t.q(`DELETE FROM "token" WHERE "did" = ?`).run(did)
}
