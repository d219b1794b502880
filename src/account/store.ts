// The account store: accounts, app passwords, refresh tokens, invite codes, email tokens and the
// repo_root mirror, over account.sqlite (official schema, see db.ts).
//
// Synchronous throughout (better-sqlite3 is): a method that reads then writes does so in one
// IMMEDIATE transaction, so checks such as an invite's remaining uses or a refresh token's grace
// period hold against other connections too. Password hashing is async and lives in
// src/auth/password.ts; this store only keeps hashes.
//
// Formats and semantics follow the official PDS's account manager so either server can run on
// the other's file: ISO timestamps, lower-cased emails, `salt:hash` scrypt strings, refresh
// tokens keyed by their JWT id, the 2-hour refresh grace period, 15-minute email tokens.
import type { Statement } from 'better-sqlite3'
import { type Db, writeTx } from '../storage/sqlite.ts'
import { invalidRequest, type XrpcError } from '../errors.ts'
import { ensureEmailAuthFactorTable } from './db.ts'
import { AccountConflictError } from './errors.ts'
import { newInviteCode, newRandomToken, newRefreshTokenId } from './random.ts'

const MINUTE = 60 * 1000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** How long a rotated refresh token stays usable (a client retrying a refresh gets the same next token). */
export const REFRESH_GRACE_MS = 2 * HOUR
/** How long an emailed token is valid. */
export const EMAIL_TOKEN_TTL_MS = 15 * MINUTE
/** `deleteAfter` of an account created deactivated (an incoming migration); nothing acts on it. */
export const DEACTIVATED_SIGNUP_DELETE_AFTER_MS = 3 * DAY

export interface AccountRow {
  did: string
  handle: string | null
  createdAt: string
  takedownRef: string | null
  deactivatedAt: string | null
  deleteAfter: string | null
  /** Null only for an actor without an account row (entryway-style accounts). */
  email: string | null
  emailConfirmedAt: string | null
  invitesDisabled: number | null
}

/** Which accounts a lookup returns. As the official PDS: taken-down and deactivated ones are left out unless asked for. */
export interface AccountFlags {
  includeTakenDown?: boolean
  includeDeactivated?: boolean
}

export type AccountStatus = 'active' | 'takendown' | 'deactivated' | 'deleted'

/** The official formatAccountStatus: `status` is absent for an active account. */
export function formatAccountStatus(account: Pick<AccountRow, 'takedownRef' | 'deactivatedAt'> | null | undefined): {
  active: boolean
  status?: Exclude<AccountStatus, 'active'>
} {
  if (!account) return { active: false, status: 'deleted' }
  if (account.takedownRef) return { active: false, status: 'takendown' }
  if (account.deactivatedAt) return { active: false, status: 'deactivated' }
  return { active: true }
}

export interface CreateAccountOptions {
  did: string
  handle: string
  email: string
  passwordHash: string
  /** The repo's first commit, mirrored into repo_root. */
  repoCid: string
  repoRev: string
  /** Checked and used in the same transaction as the account is created. */
  inviteCode?: string | null
  /** An incoming migration: created deactivated, with deleteAfter three days ahead. */
  deactivated?: boolean
  /** The first session's refresh token, stored with the account. */
  refreshToken?: { id: string; expiresAt: string } | null
}

export interface AppPasswordInfo {
  name: string
  privileged: boolean
}

export interface AppPasswordListItem extends AppPasswordInfo {
  createdAt: string
}

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

export interface InviteCodeUse {
  usedBy: string
  usedAt: string
}

/** An invite code as com.atproto.server.defs#inviteCode describes it. */
export interface InviteCodeInfo {
  code: string
  available: number
  disabled: boolean
  forAccount: string
  createdBy: string
  createdAt: string
  uses: InviteCodeUse[]
}

/** `auth_factor` is the official 0.5.36 purpose of an emailed sign-in code. */
export type EmailTokenPurpose = 'confirm_email' | 'update_email' | 'reset_password' | 'delete_account' | 'plc_operation' | 'auth_factor'

export type EmailTokenCheck = 'valid' | 'invalid' | 'expired'

export interface RepoRootRow {
  cid: string
  rev: string
  indexedAt: string
}

export interface ListedRepo {
  did: string
  head: string
  rev: string
  active: boolean
  status?: Exclude<AccountStatus, 'active'>
}

export interface AccountStoreOptions {
  /** The PDS hostname, the prefix of generated invite codes. */
  hostname?: string
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
}

const ACCOUNT_SELECT = `SELECT a."did", a."handle", a."createdAt", a."takedownRef", a."deactivatedAt", a."deleteAfter",
  c."email", c."emailConfirmedAt", c."invitesDisabled"
  FROM "actor" a LEFT JOIN "account" c ON c."did" = a."did"`

const INVITE_SELECT = `SELECT "code", "availableUses" AS "available", "disabled", "forAccount", "createdBy", "createdAt",
  (SELECT count(*) FROM "invite_code_use" u WHERE u."code" = i."code") AS "uses"
  FROM "invite_code" i`

interface InviteRow {
  code: string
  available: number
  disabled: number | null
  forAccount: string
  createdBy: string
  createdAt: string
  uses: number
}

export class AccountStore {
  readonly db: Db
  readonly #hostname: string | undefined
  readonly #now: () => number
  readonly #statements = new Map<string, Statement>()

  constructor(db: Db, opts: AccountStoreOptions = {}) {
    this.db = db
    this.#hostname = opts.hostname
    this.#now = opts.now ?? Date.now
  }

  /** A prepared statement, prepared once per store. */
  #q(sql: string): Statement {
    let stmt = this.#statements.get(sql)
    if (!stmt) {
      stmt = this.db.prepare(sql)
      this.#statements.set(sql, stmt)
    }
    return stmt
  }

  #nowIso(): string {
    return new Date(this.#now()).toISOString()
  }

  // Accounts
  // --------

  /**
   * Creates the actor and account rows, the repo_root mirror, the invite use and the first
   * refresh token in one transaction. Throws AccountConflictError when the DID, the handle or
   * the email is taken, and 400 InvalidInviteCode when the invite is not available.
   */
  createAccount(opts: CreateAccountOptions): void {
    const now = this.#now()
    const createdAt = new Date(now).toISOString()
    writeTx(this.db, () => {
      if (this.#q(`SELECT 1 FROM "actor" WHERE "did" = ?`).get(opts.did)) throw new AccountConflictError('did')
      if (this.#handleTaken(opts.handle, null)) throw new AccountConflictError('handle')
      if (this.#emailTaken(opts.email, null)) throw new AccountConflictError('email')
      if (opts.inviteCode) this.#useInviteCode(opts.inviteCode, opts.did, createdAt)
      this.#q(
        `INSERT INTO "actor" ("did", "handle", "createdAt", "deactivatedAt", "deleteAfter") VALUES (?, ?, ?, ?, ?)`,
      ).run(
        opts.did,
        opts.handle,
        createdAt,
        opts.deactivated ? createdAt : null,
        opts.deactivated ? new Date(now + DEACTIVATED_SIGNUP_DELETE_AFTER_MS).toISOString() : null,
      )
      this.#q(`INSERT INTO "account" ("did", "email", "passwordScrypt") VALUES (?, ?, ?)`).run(
        opts.did,
        opts.email.toLowerCase(),
        opts.passwordHash,
      )
      if (opts.refreshToken) {
        this.#insertRefreshToken(opts.refreshToken.id, opts.did, opts.refreshToken.expiresAt, null)
      }
      this.#upsertRepoRoot(opts.did, opts.repoCid, opts.repoRev, createdAt)
    })
  }

  #handleTaken(handle: string, exceptDid: string | null): boolean {
    const row = this.#q(`SELECT "did" FROM "actor" WHERE lower("handle") = ?`).get(handle.toLowerCase()) as
      | { did: string }
      | undefined
    return row !== undefined && row.did !== exceptDid
  }

  #emailTaken(email: string, exceptDid: string | null): boolean {
    const row = this.#q(`SELECT "did" FROM "account" WHERE lower("email") = ?`).get(email.toLowerCase()) as
      | { did: string }
      | undefined
    return row !== undefined && row.did !== exceptDid
  }

  /** By DID (anything starting `did:`) or by handle, case-insensitively. */
  getAccount(handleOrDid: string, flags?: AccountFlags): AccountRow | null {
    const row = handleOrDid.startsWith('did:')
      ? this.#q(`${ACCOUNT_SELECT} WHERE a."did" = ?`).get(handleOrDid)
      : this.#q(`${ACCOUNT_SELECT} WHERE lower(a."handle") = ?`).get(handleOrDid.toLowerCase())
    return filterAccount(row as AccountRow | undefined, flags)
  }

  /** By email, case-insensitively. */
  getAccountByEmail(email: string, flags?: AccountFlags): AccountRow | null {
    const row = this.#q(`${ACCOUNT_SELECT} WHERE lower(c."email") = ?`).get(email.toLowerCase())
    return filterAccount(row as AccountRow | undefined, flags)
  }

  getAccounts(dids: readonly string[], flags?: AccountFlags): Map<string, AccountRow> {
    const out = new Map<string, AccountRow>()
    if (dids.length === 0) return out
    const rows = this.#q(`${ACCOUNT_SELECT} WHERE a."did" IN (SELECT value FROM json_each(?))`).all(
      JSON.stringify(dids),
    ) as AccountRow[]
    for (const row of rows) {
      const kept = filterAccount(row, flags)
      if (kept) out.set(kept.did, kept)
    }
    return out
  }

  getAccountStatus(handleOrDid: string): AccountStatus {
    const res = formatAccountStatus(this.getAccount(handleOrDid, { includeTakenDown: true, includeDeactivated: true }))
    return res.status ?? 'active'
  }

  /** The account password's scrypt string, or null. */
  getPasswordHash(did: string): string | null {
    const row = this.#q(`SELECT "passwordScrypt" FROM "account" WHERE "did" = ?`).get(did) as
      | { passwordScrypt: string }
      | undefined
    return row?.passwordScrypt ?? null
  }

  /** Throws AccountConflictError('handle') when another account holds the handle. */
  updateHandle(did: string, handle: string): void {
    writeTx(this.db, () => {
      if (this.#handleTaken(handle, did)) throw new AccountConflictError('handle')
      this.#q(`UPDATE "actor" SET "handle" = ? WHERE "did" = ?`).run(handle, did)
    })
  }

  /**
   * Sets a new (lower-cased) email, unconfirmed, and drops every email token of the account.
   * Throws AccountConflictError('email') when another account uses it.
   */
  updateEmail(did: string, email: string): void {
    writeTx(this.db, () => {
      if (this.#emailTaken(email, did)) throw new AccountConflictError('email')
      this.#q(`UPDATE "account" SET "email" = ?, "emailConfirmedAt" = NULL WHERE "did" = ?`).run(email.toLowerCase(), did)
      this.#q(`DELETE FROM "email_token" WHERE "did" = ?`).run(did)
      // As official: codes must never go to an address not yet confirmed, so a new email turns
      // the second factor off.
      this.#deleteEmailAuthFactor(did)
    })
  }

  // Email two-factor sign-in (official 0.5.36)
  // ------------------------------------------

  #hasFactorTable(): boolean {
    return this.#q(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account_email_auth_factor'`).get() !== undefined
  }

  #deleteEmailAuthFactor(did: string): void {
    if (this.#hasFactorTable()) this.#q(`DELETE FROM "account_email_auth_factor" WHERE "did" = ?`).run(did)
  }

  /** When the account turned email two-factor sign-in on, or null while it is off. */
  getEmailAuthFactor(did: string): string | null {
    if (!this.#hasFactorTable()) return null
    const row = this.#q(`SELECT "emailAuthFactorEnabledAt" FROM "account_email_auth_factor" WHERE "did" = ?`).get(did) as
      | { emailAuthFactorEnabledAt: string }
      | undefined
    return row?.emailAuthFactorEnabledAt ?? null
  }

  /**
   * Turns the factor on, provided `email` is still the account's address and is confirmed (one
   * statement, so a concurrent email change cannot slip between check and write). Enabling
   * again keeps the first timestamp. Returns the stored timestamp, or null when the guard failed.
   */
  enableEmailAuthFactor(did: string, email: string): string | null {
    ensureEmailAuthFactorTable(this.db)
    const row = this.#q(
      `INSERT INTO "account_email_auth_factor" ("did", "emailAuthFactorEnabledAt")
       SELECT "did", ? FROM "account" WHERE "did" = ? AND "email" = ? AND "emailConfirmedAt" IS NOT NULL
       ON CONFLICT ("did") DO UPDATE SET "emailAuthFactorEnabledAt" = "account_email_auth_factor"."emailAuthFactorEnabledAt"
       RETURNING "emailAuthFactorEnabledAt"`,
    ).get(this.#nowIso(), did, email.toLowerCase()) as { emailAuthFactorEnabledAt: string } | undefined
    return row?.emailAuthFactorEnabledAt ?? null
  }

  /** Checks and consumes an `update_email` code, then turns the factor off, in one transaction. */
  disableEmailAuthFactor(did: string, token: string): void {
    writeTx(this.db, () => {
      this.#assertEmailToken(did, 'update_email', token)
      this.#q(`DELETE FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).run(did, 'update_email')
      this.#deleteEmailAuthFactor(did)
    })
  }

  setEmailConfirmedAt(did: string, at: string | null = this.#nowIso()): void {
    this.#q(`UPDATE "account" SET "emailConfirmedAt" = ? WHERE "did" = ?`).run(at, did)
  }

  /** Checks and consumes a `confirm_email` token, then marks the email confirmed. */
  confirmEmail(did: string, token: string): void {
    writeTx(this.db, () => {
      this.#assertEmailToken(did, 'confirm_email', token)
      this.#q(`DELETE FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).run(did, 'confirm_email')
      this.setEmailConfirmedAt(did)
    })
  }

  /**
   * Replaces the account password. As the official PDS, this also drops any password-reset
   * token and revokes every refresh token (all sessions, app-password ones too); app passwords
   * themselves stay. Unlike the official, every OAuth session ends too (its access tokens are
   * refused from the next request on), and so do the sign-ins remembered on devices: whoever
   * knew the old password keeps nothing it let them open.
   */
  updatePassword(did: string, passwordHash: string): void {
    writeTx(this.db, () => {
      this.#q(`UPDATE "account" SET "passwordScrypt" = ? WHERE "did" = ?`).run(passwordHash, did)
      this.#q(`DELETE FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).run(did, 'reset_password')
      this.#q(`DELETE FROM "refresh_token" WHERE "did" = ?`).run(did)
      this.#deleteOAuthTokens(did)
      this.#q(`DELETE FROM "account_device" WHERE "did" = ?`).run(did)
    })
  }

  /**
   * resetPassword: finds the account by its `reset_password` token (400 InvalidToken /
   * ExpiredToken) and sets the password, atomically, so one token resets once. Returns the DID.
   */
  resetPassword(token: string, passwordHash: string): string {
    return writeTx(this.db, () => {
      const did = this.findDidByEmailToken('reset_password', token)
      this.updatePassword(did, passwordHash)
      return did
    })
  }

  deactivateAccount(did: string, deleteAfter: string | null = null): void {
    this.#q(`UPDATE "actor" SET "deactivatedAt" = ?, "deleteAfter" = ? WHERE "did" = ?`).run(this.#nowIso(), deleteAfter, did)
  }

  /**
   * What a deactivation through OAuth ends, as official 0.5 (deleteCredentials): every OAuth
   * session and authorized app, and every app password. Hearth also drops the app-password
   * sessions' refresh tokens (their access tokens are refused at once); sessions made with the
   * account password stay.
   */
  deleteDelegatedCredentials(did: string): void {
    writeTx(this.db, () => {
      this.#deleteOAuthTokens(did)
      this.#q(`DELETE FROM "authorized_client" WHERE "did" = ?`).run(did)
      this.#q(`DELETE FROM "app_password" WHERE "did" = ?`).run(did)
      this.#q(`DELETE FROM "refresh_token" WHERE "did" = ? AND "appPasswordName" IS NOT NULL`).run(did)
    })
  }

  activateAccount(did: string): void {
    this.#q(`UPDATE "actor" SET "deactivatedAt" = NULL, "deleteAfter" = NULL WHERE "did" = ?`).run(did)
  }

  /**
   * Applies or lifts a takedown (`ref` defaults to the current time, as official). Either way the
   * account's sessions end: refresh tokens and OAuth tokens are deleted, as the official
   * takedownAccount does.
   */
  setTakedown(did: string, takedown: { applied: boolean; ref?: string | null }): void {
    const ref = takedown.applied ? (takedown.ref ?? this.#nowIso()) : null
    writeTx(this.db, () => {
      this.#q(`UPDATE "actor" SET "takedownRef" = ? WHERE "did" = ?`).run(ref, did)
      this.#q(`DELETE FROM "refresh_token" WHERE "did" = ?`).run(did)
      this.#deleteOAuthTokens(did)
    })
  }

  /** OAuth tokens and their used-refresh-token records (spelled out: the cascade needs foreign keys on). */
  #deleteOAuthTokens(did: string): void {
    this.#q(`DELETE FROM "used_refresh_token" WHERE "tokenId" IN (SELECT "id" FROM "token" WHERE "did" = ?)`).run(did)
    this.#q(`DELETE FROM "token" WHERE "did" = ?`).run(did)
  }

  getAdminStatus(did: string): { takedown: { applied: boolean; ref?: string }; deactivated: { applied: boolean } } | null {
    const row = this.#q(`SELECT "takedownRef", "deactivatedAt" FROM "actor" WHERE "did" = ?`).get(did) as
      | { takedownRef: string | null; deactivatedAt: string | null }
      | undefined
    if (!row) return null
    return {
      takedown: row.takedownRef ? { applied: true, ref: row.takedownRef } : { applied: false },
      deactivated: { applied: !!row.deactivatedAt },
    }
  }

  /**
   * Deletes every row that belongs to the DID: account, actor, repo_root, sessions, app
   * passwords, email tokens and its OAuth rows. Invite codes and their uses stay, as official
   * (they are the invite tree's history). Returns whether the account existed.
   */
  deleteAccount(did: string): boolean {
    return writeTx(this.db, () => {
      const existed = this.#q(`SELECT 1 FROM "actor" WHERE "did" = ?`).get(did) !== undefined
      this.#deleteOAuthTokens(did)
      for (const table of ['repo_root', 'email_token', 'refresh_token', 'app_password', 'account_device', 'authorized_client', 'account', 'actor']) {
        this.#q(`DELETE FROM "${table}" WHERE "did" = ?`).run(did)
      }
      this.#deleteEmailAuthFactor(did)
      return existed
    })
  }

  // App passwords
  // -------------

  /** Stores an app password's hash (see hashAppPassword). Throws AccountConflictError('appPassword') on a used name. */
  createAppPassword(opts: { did: string; name: string; passwordHash: string; privileged: boolean }): AppPasswordListItem {
    const createdAt = this.#nowIso()
    const res = this.#q(
      `INSERT INTO "app_password" ("did", "name", "passwordScrypt", "createdAt", "privileged") VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(opts.did, opts.name, opts.passwordHash, createdAt, opts.privileged ? 1 : 0)
    if (res.changes === 0) throw new AccountConflictError('appPassword')
    return { name: opts.name, createdAt, privileged: opts.privileged }
  }

  /** Newest first. */
  listAppPasswords(did: string): AppPasswordListItem[] {
    const rows = this.#q(
      `SELECT "name", "createdAt", "privileged" FROM "app_password" WHERE "did" = ? ORDER BY "createdAt" DESC`,
    ).all(did) as Array<{ name: string; createdAt: string; privileged: number }>
    return rows.map((r) => ({ name: r.name, createdAt: r.createdAt, privileged: r.privileged === 1 }))
  }

  /** The app password whose (deterministic, per-DID) hash this is. */
  findAppPassword(did: string, passwordHash: string): AppPasswordInfo | null {
    const row = this.#q(`SELECT "name", "privileged" FROM "app_password" WHERE "did" = ? AND "passwordScrypt" = ?`).get(
      did,
      passwordHash,
    ) as { name: string; privileged: number } | undefined
    return row ? { name: row.name, privileged: row.privileged === 1 } : null
  }

  /** Deletes the app password and every session made with it. Returns whether it existed. */
  revokeAppPassword(did: string, name: string): boolean {
    return writeTx(this.db, () => {
      const res = this.#q(`DELETE FROM "app_password" WHERE "did" = ? AND "name" = ?`).run(did, name)
      this.revokeAppPasswordRefreshTokens(did, name)
      return res.changes > 0
    })
  }

  // Refresh tokens
  // --------------

  storeRefreshToken(token: { id: string; did: string; expiresAt: string; appPasswordName: string | null }): void {
    this.#insertRefreshToken(token.id, token.did, token.expiresAt, token.appPasswordName)
  }

  #insertRefreshToken(id: string, did: string, expiresAt: string, appPasswordName: string | null): void {
    this.#q(
      `INSERT INTO "refresh_token" ("id", "did", "expiresAt", "appPasswordName") VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(id, did, expiresAt, appPasswordName)
  }

  getRefreshToken(id: string): RefreshTokenRow | null {
    const row = this.#q(
      `SELECT r."id", r."did", r."expiresAt", r."nextId", r."appPasswordName", p."privileged"
       FROM "refresh_token" r LEFT JOIN "app_password" p ON p."did" = r."did" AND p."name" = r."appPasswordName"
       WHERE r."id" = ?`,
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
  getSession(id: string): { did: string; appPasswordName: string | null } | null {
    return (
      (this.#q(`SELECT "did", "appPasswordName" FROM "refresh_token" WHERE "id" = ?`).get(id) as
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
  rotateRefreshToken(id: string, opts: { nextExpiresAt: string; did?: string }): RotatedRefreshToken | null {
    return writeTx(this.db, () => {
      const token = this.getRefreshToken(id)
      if (!token || (opts.did !== undefined && token.did !== opts.did)) return null
      const now = this.#now()
      this.deleteExpiredRefreshTokens(token.did)
      const expiresAt = Math.min(now + REFRESH_GRACE_MS, Date.parse(token.expiresAt))
      if (!(expiresAt > now)) return null
      // A successor always outlives its predecessor's grace period, so a missing one was revoked
      // (by a logout, or by a server that deletes only the newest token): the session is over,
      // and re-inserting the successor would bring the logged-out token back to life.
      if (token.nextId !== null && !this.getSession(token.nextId)) {
        this.#deleteRefreshFamily(id, token.did)
        return null
      }
      const nextId = token.nextId ?? newRefreshTokenId()
      this.#q(`UPDATE "refresh_token" SET "expiresAt" = ?, "nextId" = ? WHERE "id" = ?`).run(
        new Date(expiresAt).toISOString(),
        nextId,
        id,
      )
      this.#insertRefreshToken(nextId, token.did, opts.nextExpiresAt, token.appPassword?.name ?? null)
      return { did: token.did, nextId, appPassword: token.appPassword }
    })
  }

  /**
   * Ends the session a refresh token belongs to: the token and its whole rotation chain, both
   * the tokens it was rotated from (still usable in their grace period) and those rotated from
   * it, so no access token minted from any of them works any more. `did` is the token's owner
   * (from its JWT); without it the row's own is used. Returns whether anything was deleted.
   */
  revokeRefreshToken(id: string, did?: string): boolean {
    return writeTx(this.db, () => {
      const owner = did ?? this.getSession(id)?.did
      return owner !== undefined && this.#deleteRefreshFamily(id, owner) > 0
    })
  }

  /**
   * Deletes `id` and every token linked to it through `nextId`, in both directions. Rotation
   * makes a chain, not a tree (a retried refresh gets the same successor), and the walk back
   * stays on the owner's rows through the `did` index.
   */
  #deleteRefreshFamily(id: string, did: string): number {
    return this.#q(
      `WITH RECURSIVE
         "later"("id") AS (
           SELECT ? UNION
           SELECT r."nextId" FROM "refresh_token" r JOIN "later" l ON r."id" = l."id" WHERE r."nextId" IS NOT NULL),
         "earlier"("id") AS (
           SELECT ? UNION
           SELECT r."id" FROM "refresh_token" r JOIN "earlier" e ON r."nextId" = e."id" WHERE r."did" = ?)
       DELETE FROM "refresh_token"
       WHERE "did" = ? AND "id" IN (SELECT "id" FROM "later" UNION SELECT "id" FROM "earlier")`,
    ).run(id, id, did, did).changes
  }

  revokeRefreshTokensByDid(did: string): boolean {
    return this.#q(`DELETE FROM "refresh_token" WHERE "did" = ?`).run(did).changes > 0
  }

  revokeAppPasswordRefreshTokens(did: string, appPasswordName: string): boolean {
    return this.#q(`DELETE FROM "refresh_token" WHERE "did" = ? AND "appPasswordName" = ?`).run(did, appPasswordName).changes > 0
  }

  /** Deletes the account's refresh tokens that have expired. */
  deleteExpiredRefreshTokens(did: string): number {
    return this.#q(`DELETE FROM "refresh_token" WHERE "did" = ? AND "expiresAt" <= ?`).run(did, this.#nowIso()).changes
  }

  // Invite codes
  // ------------

  /** `count` new codes in the official format; needs the `hostname` option. */
  generateInviteCodes(count: number): string[] {
    const hostname = this.#hostname
    if (!hostname) throw new Error('AccountStore needs the hostname option to generate invite codes')
    return Array.from({ length: count }, () => newInviteCode(hostname))
  }

  /** Admin-made codes (createdBy `admin`), each usable `useCount` times; `account` is a DID or `admin`. */
  createInviteCodes(toCreate: ReadonlyArray<{ account: string; codes: readonly string[] }>, useCount: number): void {
    const createdAt = this.#nowIso()
    const insert = this.#q(
      `INSERT INTO "invite_code" ("code", "availableUses", "disabled", "forAccount", "createdBy", "createdAt") VALUES (?, ?, 0, ?, 'admin', ?)`,
    )
    writeTx(this.db, () => {
      for (const { account, codes } of toCreate) for (const code of codes) insert.run(code, useCount, account, createdAt)
    })
  }

  /**
   * A user's own periodic codes (single use, createdBy the user). `expectedTotal` is how many
   * non-admin codes the account should have afterwards; more means another request made codes
   * at the same time, and nothing is created (400 DuplicateCreate).
   */
  createAccountInviteCodes(forAccount: string, codes: readonly string[], expectedTotal: number, disabled: boolean): InviteCodeInfo[] {
    const createdAt = this.#nowIso()
    const insert = this.#q(
      `INSERT INTO "invite_code" ("code", "availableUses", "disabled", "forAccount", "createdBy", "createdAt") VALUES (?, 1, ?, ?, ?, ?)`,
    )
    writeTx(this.db, () => {
      for (const code of codes) insert.run(code, disabled ? 1 : 0, forAccount, forAccount, createdAt)
      const { n } = this.#q(`SELECT count(*) AS "n" FROM "invite_code" WHERE "forAccount" = ? AND "createdBy" != 'admin'`).get(
        forAccount,
      ) as { n: number }
      if (n > expectedTotal) throw invalidRequest('attempted to create additional codes in another request', 'DuplicateCreate')
    })
    return codes.map((code) => ({ code, available: 1, disabled, forAccount, createdBy: forAccount, createdAt, uses: [] }))
  }

  /** Not disabled, not for a taken-down account, and with uses left. */
  isInviteAvailable(code: string): boolean {
    const row = this.#q(
      `SELECT i."availableUses", i."disabled", (SELECT count(*) FROM "invite_code_use" u WHERE u."code" = i."code") AS "uses"
       FROM "invite_code" i LEFT JOIN "actor" a ON a."did" = i."forAccount"
       WHERE i."code" = ? AND a."takedownRef" IS NULL`,
    ).get(code) as { availableUses: number; disabled: number | null; uses: number } | undefined
    return row !== undefined && !row.disabled && row.availableUses > row.uses
  }

  /** 400 InvalidInviteCode unless the code is available. */
  ensureInviteAvailable(code: string): void {
    if (!this.isInviteAvailable(code)) throw inviteNotAvailable()
  }

  /** Checks the code and records its use by `did` atomically (400 InvalidInviteCode when not available). */
  useInviteCode(code: string, did: string): void {
    const usedAt = this.#nowIso()
    writeTx(this.db, () => this.#useInviteCode(code, did, usedAt))
  }

  #useInviteCode(code: string, did: string, usedAt: string): void {
    if (!this.isInviteAvailable(code)) throw inviteNotAvailable()
    const res = this.#q(`INSERT INTO "invite_code_use" ("code", "usedBy", "usedAt") VALUES (?, ?, ?) ON CONFLICT DO NOTHING`).run(
      code,
      did,
      usedAt,
    )
    if (res.changes === 0) throw inviteNotAvailable() // this account already used this code
  }

  /** The codes made for an account (both its own and admin-gifted), with their uses. */
  getAccountInviteCodes(did: string): InviteCodeInfo[] {
    const rows = this.#q(`${INVITE_SELECT} WHERE "forAccount" = ?`).all(did) as InviteRow[]
    return this.#withUses(rows)
  }

  getAccountsInviteCodes(dids: readonly string[]): Map<string, InviteCodeInfo[]> {
    const out = new Map<string, InviteCodeInfo[]>()
    if (dids.length === 0) return out
    const rows = this.#q(`${INVITE_SELECT} WHERE "forAccount" IN (SELECT value FROM json_each(?))`).all(
      JSON.stringify(dids),
    ) as InviteRow[]
    for (const info of this.#withUses(rows)) {
      const list = out.get(info.forAccount)
      if (list) list.push(info)
      else out.set(info.forAccount, [info])
    }
    return out
  }

  /** Uses per code, newest first. */
  getInviteCodesUses(codes: readonly string[]): Record<string, InviteCodeUse[]> {
    const uses: Record<string, InviteCodeUse[]> = {}
    if (codes.length === 0) return uses
    const rows = this.#q(
      `SELECT "code", "usedBy", "usedAt" FROM "invite_code_use" WHERE "code" IN (SELECT value FROM json_each(?)) ORDER BY "usedAt" DESC`,
    ).all(JSON.stringify(codes)) as Array<{ code: string; usedBy: string; usedAt: string }>
    for (const { code, usedBy, usedAt } of rows) (uses[code] ??= []).push({ usedBy, usedAt })
    return uses
  }

  /** For each account, the code it signed up with. */
  getInvitedByForAccounts(dids: readonly string[]): Record<string, InviteCodeInfo> {
    const out: Record<string, InviteCodeInfo> = {}
    if (dids.length === 0) return out
    const rows = this.#q(
      `${INVITE_SELECT} WHERE "code" IN (SELECT DISTINCT "code" FROM "invite_code_use" WHERE "usedBy" IN (SELECT value FROM json_each(?)))`,
    ).all(JSON.stringify(dids)) as InviteRow[]
    for (const info of this.#withUses(rows)) for (const use of info.uses) out[use.usedBy] = info
    return out
  }

  /**
   * admin.getInviteCodes: newest first (`recent`) or most used first (`usage`), with the
   * official `<primary>::<code>` cursor (400 "Malformed cursor" on a bad one).
   */
  listInviteCodes(opts: { sort?: 'recent' | 'usage'; limit: number; cursor?: string }): {
    codes: InviteCodeInfo[]
    cursor?: string
  } {
    const sort = opts.sort ?? 'recent'
    const primary = sort === 'recent' ? 'createdAt' : 'uses'
    const base = `SELECT * FROM (${INVITE_SELECT}) AS codes`
    const order = `ORDER BY "${primary}" DESC, "code" DESC LIMIT ?`
    let rows: InviteRow[]
    const parsed = unpackCursor(opts.cursor)
    if (parsed) {
      let key: string | number
      if (sort === 'recent') {
        const ms = Number.parseInt(parsed.primary, 10)
        if (Number.isNaN(new Date(ms).getTime())) throw invalidRequest('Malformed cursor')
        key = new Date(ms).toISOString()
      } else {
        key = Number.parseInt(parsed.primary, 10)
        if (Number.isNaN(key)) throw invalidRequest('Malformed cursor')
      }
      rows = this.#q(
        `${base} WHERE ("${primary}" < ?) OR ("${primary}" = ? AND "code" < ?) ${order}`,
      ).all(key, key, parsed.secondary, opts.limit) as InviteRow[]
    } else {
      rows = this.#q(`${base} ${order}`).all(opts.limit) as InviteRow[]
    }
    const last = rows.at(-1)
    const cursor = last
      ? `${sort === 'recent' ? new Date(last.createdAt).getTime() : last.uses}::${last.code}`
      : undefined
    return { codes: this.#withUses(rows), cursor }
  }

  #withUses(rows: InviteRow[]): InviteCodeInfo[] {
    const uses = this.getInviteCodesUses(rows.map((r) => r.code))
    return rows.map((r) => ({
      code: r.code,
      available: r.available,
      disabled: r.disabled === 1,
      forAccount: r.forAccount,
      createdBy: r.createdBy,
      createdAt: r.createdAt,
      uses: uses[r.code] ?? [],
    }))
  }

  disableInviteCodes(opts: { codes?: readonly string[]; accounts?: readonly string[] }): void {
    writeTx(this.db, () => {
      if (opts.codes?.length) {
        this.#q(`UPDATE "invite_code" SET "disabled" = 1 WHERE "code" IN (SELECT value FROM json_each(?))`).run(
          JSON.stringify(opts.codes),
        )
      }
      if (opts.accounts?.length) {
        this.#q(`UPDATE "invite_code" SET "disabled" = 1 WHERE "forAccount" IN (SELECT value FROM json_each(?))`).run(
          JSON.stringify(opts.accounts),
        )
      }
    })
  }

  setAccountInvitesDisabled(did: string, disabled: boolean): void {
    this.#q(`UPDATE "account" SET "invitesDisabled" = ? WHERE "did" = ?`).run(disabled ? 1 : 0, did)
  }

  // Email tokens
  // ------------

  /** A fresh `XXXXX-XXXXX` token for (did, purpose), replacing any earlier one. */
  createEmailToken(did: string, purpose: EmailTokenPurpose): string {
    const requestedAt = this.#nowIso()
    const upsert = this.#q(
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
  checkEmailToken(did: string, purpose: EmailTokenPurpose, token: string): EmailTokenCheck {
    const row = this.#q(`SELECT "requestedAt" FROM "email_token" WHERE "purpose" = ? AND "did" = ? AND "token" = ?`).get(
      purpose,
      did,
      token.toUpperCase(),
    ) as { requestedAt: string } | undefined
    if (!row) return 'invalid'
    return this.#tokenFresh(row.requestedAt) ? 'valid' : 'expired'
  }

  #tokenFresh(requestedAt: string): boolean {
    return this.#now() < Date.parse(requestedAt) + EMAIL_TOKEN_TTL_MS
  }

  /** 400 InvalidToken "Token is invalid" / 400 ExpiredToken "Token is expired", as official. */
  assertValidEmailToken(did: string, purpose: EmailTokenPurpose, token: string): void {
    this.#assertEmailToken(did, purpose, token)
  }

  #assertEmailToken(did: string, purpose: EmailTokenPurpose, token: string): void {
    const check = this.checkEmailToken(did, purpose, token)
    if (check === 'invalid') throw invalidRequest('Token is invalid', 'InvalidToken')
    if (check === 'expired') throw invalidRequest('Token is expired', 'ExpiredToken')
  }

  /** Checks the token and deletes it in one transaction: a token works once. */
  consumeEmailToken(did: string, purpose: EmailTokenPurpose, token: string): void {
    writeTx(this.db, () => {
      this.#assertEmailToken(did, purpose, token)
      this.#q(`DELETE FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).run(did, purpose)
    })
  }

  /** The DID a token was issued to (for flows keyed by the token alone, e.g. reset_password). */
  findDidByEmailToken(purpose: EmailTokenPurpose, token: string): string {
    const row = this.#q(`SELECT "did", "requestedAt" FROM "email_token" WHERE "purpose" = ? AND "token" = ?`).get(
      purpose,
      token.toUpperCase(),
    ) as { did: string; requestedAt: string } | undefined
    if (!row) throw invalidRequest('Token is invalid', 'InvalidToken')
    if (!this.#tokenFresh(row.requestedAt)) throw invalidRequest('Token is expired', 'ExpiredToken')
    return row.did
  }

  deleteEmailToken(did: string, purpose: EmailTokenPurpose): void {
    this.#q(`DELETE FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).run(did, purpose)
  }

  deleteAllEmailTokens(did: string): void {
    this.#q(`DELETE FROM "email_token" WHERE "did" = ?`).run(did)
  }

  // repo_root mirror
  // ----------------

  /** Mirrors an actor's new head (the official keeps the first indexedAt). */
  updateRepoRoot(did: string, cid: string, rev: string): void {
    this.#upsertRepoRoot(did, cid, rev, this.#nowIso())
  }

  #upsertRepoRoot(did: string, cid: string, rev: string, indexedAt: string): void {
    this.#q(
      `INSERT INTO "repo_root" ("did", "cid", "rev", "indexedAt") VALUES (?, ?, ?, ?)
       ON CONFLICT ("did") DO UPDATE SET "cid" = excluded."cid", "rev" = excluded."rev"`,
    ).run(did, cid, rev, indexedAt)
  }

  getRepoRoot(did: string): RepoRootRow | null {
    return (this.#q(`SELECT "cid", "rev", "indexedAt" FROM "repo_root" WHERE "did" = ?`).get(did) as RepoRootRow | undefined) ?? null
  }

  /**
   * sync.listRepos: every hosted repo (any status) in account-creation order, with the official
   * `<createdAt ms>::<did>` cursor (400 "Malformed cursor" on a bad one).
   */
  listRepos(opts: { limit: number; cursor?: string }): { repos: ListedRepo[]; cursor?: string } {
    const select = `SELECT a."did", r."cid" AS "head", r."rev", a."createdAt", a."deactivatedAt", a."takedownRef"
      FROM "actor" a INNER JOIN "repo_root" r ON r."did" = a."did"`
    const order = `ORDER BY a."createdAt" ASC, a."did" ASC LIMIT ?`
    type Row = { did: string; head: string; rev: string | null; createdAt: string; deactivatedAt: string | null; takedownRef: string | null }
    let rows: Row[]
    const parsed = unpackCursor(opts.cursor)
    if (parsed) {
      const date = new Date(Number.parseInt(parsed.primary, 10))
      if (Number.isNaN(date.getTime())) throw invalidRequest('Malformed cursor')
      rows = this.#q(`${select} WHERE (a."createdAt", a."did") > (?, ?) ${order}`).all(
        date.toISOString(),
        parsed.secondary,
        opts.limit,
      ) as Row[]
    } else {
      rows = this.#q(`${select} ${order}`).all(opts.limit) as Row[]
    }
    const repos = rows.map((row): ListedRepo => {
      const { active, status } = formatAccountStatus(row)
      const repo: ListedRepo = { did: row.did, head: row.head, rev: row.rev ?? '', active }
      if (status) repo.status = status
      return repo
    })
    const last = rows.at(-1)
    return { repos, cursor: last ? `${new Date(last.createdAt).getTime()}::${last.did}` : undefined }
  }
}

function filterAccount(row: AccountRow | undefined, flags: AccountFlags | undefined): AccountRow | null {
  if (!row) return null
  if (!flags?.includeTakenDown && row.takedownRef) return null
  if (!flags?.includeDeactivated && row.deactivatedAt) return null
  return row
}

function inviteNotAvailable(): XrpcError {
  return invalidRequest('Provided invite code not available', 'InvalidInviteCode')
}

/** The official two-part keyset cursor `<primary>::<secondary>`. */
function unpackCursor(cursor: string | undefined): { primary: string; secondary: string } | null {
  if (!cursor) return null
  const parts = cursor.split('::')
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw invalidRequest('Malformed cursor')
  return { primary: parts[0], secondary: parts[1] }
}
