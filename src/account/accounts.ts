// The actor and account tables: creating an account, finding it by DID, handle or email, its
// handle and email, and its state (deactivation, takedown, deletion). Creating and deleting an
// account also write the other account tables, in the same transaction.
import { writeTx } from '../storage/sqlite.ts'
import { deleteEmailAuthFactor } from './email-auth-factor.ts'
import { assertValidEmailToken, deleteAllEmailTokens, deleteEmailToken } from './email-tokens.ts'
import { AccountConflictError } from './errors.ts'
import { recordInviteUse } from './invites.ts'
import { deleteOAuthTokens } from './oauth-rows.ts'
import { insertRefreshToken, revokeRefreshTokensByDid } from './refresh-tokens.ts'
import { upsertRepoRoot } from './repo-root.ts'
import { type AccountStateColumns, type AccountStatus, formatAccountStatus } from './status.ts'
import type { AccountTables } from './tables.ts'

const DAY = 24 * 60 * 60 * 1000

/** `deleteAfter` of an account created deactivated (an incoming migration); nothing acts on it. */
export const DEACTIVATED_SIGNUP_DELETE_AFTER_MS = 3 * DAY

export interface AccountRow extends AccountStateColumns {
  did: string
  handle: string | null
  createdAt: string
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

// The values below are bound as `+?`: SQLite 3.54 would compile a join again on every run (LIMIT_PARAM).
const ACCOUNT_SELECT = `SELECT a."did", a."handle", a."createdAt", a."takedownRef", a."deactivatedAt", a."deleteAfter",
  c."email", c."emailConfirmedAt", c."invitesDisabled"
  FROM "actor" a LEFT JOIN "account" c ON c."did" = a."did"`

/**
 * Creates the actor and account rows, the repo_root mirror, the invite use and the first
 * refresh token in one transaction. Throws AccountConflictError when the DID, the handle or
 * the email is taken, and 400 InvalidInviteCode when the invite is not available.
 */
export function createAccount(t: AccountTables, opts: CreateAccountOptions): void {
  const now = t.now()
  const createdAt = new Date(now).toISOString()
  writeTx(t.db, () => {
    if (t.q(`SELECT 1 FROM "actor" WHERE "did" = ?`).get(opts.did)) throw new AccountConflictError('did')
    if (handleTaken(t, opts.handle, null)) throw new AccountConflictError('handle')
    if (emailTaken(t, opts.email, null)) throw new AccountConflictError('email')
    if (opts.inviteCode) recordInviteUse(t, opts.inviteCode, opts.did, createdAt)
    t.q(`INSERT INTO "actor" ("did", "handle", "createdAt", "deactivatedAt", "deleteAfter") VALUES (?, ?, ?, ?, ?)`).run(
      opts.did,
      opts.handle,
      createdAt,
      opts.deactivated ? createdAt : null,
      opts.deactivated ? new Date(now + DEACTIVATED_SIGNUP_DELETE_AFTER_MS).toISOString() : null,
    )
    t.q(`INSERT INTO "account" ("did", "email", "passwordScrypt") VALUES (?, ?, ?)`).run(
      opts.did,
      opts.email.toLowerCase(),
      opts.passwordHash,
    )
    if (opts.refreshToken) insertRefreshToken(t, opts.refreshToken.id, opts.did, opts.refreshToken.expiresAt, null)
    upsertRepoRoot(t, opts.did, opts.repoCid, opts.repoRev, createdAt)
  })
}

function handleTaken(t: AccountTables, handle: string, exceptDid: string | null): boolean {
  const row = t.q(`SELECT "did" FROM "actor" WHERE lower("handle") = ?`).get(handle.toLowerCase()) as { did: string } | undefined
  return row !== undefined && row.did !== exceptDid
}

function emailTaken(t: AccountTables, email: string, exceptDid: string | null): boolean {
  const row = t.q(`SELECT "did" FROM "account" WHERE lower("email") = ?`).get(email.toLowerCase()) as { did: string } | undefined
  return row !== undefined && row.did !== exceptDid
}

/** By DID (anything starting `did:`) or by handle, case-insensitively. */
export function getAccount(t: AccountTables, handleOrDid: string, flags?: AccountFlags): AccountRow | null {
  const row = handleOrDid.startsWith('did:')
    ? t.q(`${ACCOUNT_SELECT} WHERE a."did" = +?`).get(handleOrDid)
    : t.q(`${ACCOUNT_SELECT} WHERE lower(a."handle") = +?`).get(handleOrDid.toLowerCase())
  return filterAccount(row as AccountRow | undefined, flags)
}

/** The columns a repo read's gate needs: the DID and the state. */
export interface AccountState extends AccountStateColumns {
  did: string
}

/**
 * getAccount narrowed to what a read of a repo checks (its DID and whether it is taken down or
 * deactivated): one table, three columns, no join with "account". Same rows, same `flags`.
 */
export function getAccountState(t: AccountTables, handleOrDid: string, flags?: AccountFlags): AccountState | null {
  const row = handleOrDid.startsWith('did:')
    ? t.q(`SELECT "did", "takedownRef", "deactivatedAt" FROM "actor" WHERE "did" = ?`).get(handleOrDid)
    : t.q(`SELECT "did", "takedownRef", "deactivatedAt" FROM "actor" WHERE lower("handle") = ?`).get(handleOrDid.toLowerCase())
  return filterAccount(row as AccountState | undefined, flags)
}

/** By email, case-insensitively. */
export function getAccountByEmail(t: AccountTables, email: string, flags?: AccountFlags): AccountRow | null {
  const row = t.q(`${ACCOUNT_SELECT} WHERE lower(c."email") = +?`).get(email.toLowerCase())
  return filterAccount(row as AccountRow | undefined, flags)
}

export function getAccounts(t: AccountTables, dids: readonly string[], flags?: AccountFlags): Map<string, AccountRow> {
  const out = new Map<string, AccountRow>()
  if (dids.length === 0) return out
  const rows = t.q(`${ACCOUNT_SELECT} WHERE a."did" IN (SELECT value FROM json_each(?))`).all(JSON.stringify(dids)) as AccountRow[]
  for (const row of rows) {
    const kept = filterAccount(row, flags)
    if (kept) out.set(kept.did, kept)
  }
  return out
}

function filterAccount<R extends AccountStateColumns>(row: R | undefined, flags: AccountFlags | undefined): R | null {
  if (!row) return null
  if (!flags?.includeTakenDown && row.takedownRef) return null
  if (!flags?.includeDeactivated && row.deactivatedAt) return null
  return row
}

export function getAccountStatus(t: AccountTables, handleOrDid: string): AccountStatus {
  const res = formatAccountStatus(getAccount(t, handleOrDid, { includeTakenDown: true, includeDeactivated: true }))
  return res.status ?? 'active'
}

/** Throws AccountConflictError('handle') when another account holds the handle. */
export function updateHandle(t: AccountTables, did: string, handle: string): void {
  writeTx(t.db, () => {
    if (handleTaken(t, handle, did)) throw new AccountConflictError('handle')
    t.q(`UPDATE "actor" SET "handle" = ? WHERE "did" = ?`).run(handle, did)
  })
}

/**
 * Sets a new (lower-cased) email, unconfirmed, and drops every email token of the account.
 * Throws AccountConflictError('email') when another account uses it.
 */
export function updateEmail(t: AccountTables, did: string, email: string): void {
  writeTx(t.db, () => {
    if (emailTaken(t, email, did)) throw new AccountConflictError('email')
    t.q(`UPDATE "account" SET "email" = ?, "emailConfirmedAt" = NULL WHERE "did" = ?`).run(email.toLowerCase(), did)
    deleteAllEmailTokens(t, did)
    // As official: codes must never go to an address not yet confirmed, so a new email turns
    // the second factor off.
    deleteEmailAuthFactor(t, did)
  })
}

export function setEmailConfirmedAt(t: AccountTables, did: string, at: string | null = t.nowIso()): void {
  t.q(`UPDATE "account" SET "emailConfirmedAt" = ? WHERE "did" = ?`).run(at, did)
}

/** Checks and consumes a `confirm_email` token, then marks the email confirmed. */
export function confirmEmail(t: AccountTables, did: string, token: string): void {
  writeTx(t.db, () => {
    assertValidEmailToken(t, did, 'confirm_email', token)
    deleteEmailToken(t, did, 'confirm_email')
    setEmailConfirmedAt(t, did)
  })
}

export function deactivateAccount(t: AccountTables, did: string, deleteAfter: string | null = null): void {
  t.q(`UPDATE "actor" SET "deactivatedAt" = ?, "deleteAfter" = ? WHERE "did" = ?`).run(t.nowIso(), deleteAfter, did)
}

export function activateAccount(t: AccountTables, did: string): void {
  t.q(`UPDATE "actor" SET "deactivatedAt" = NULL, "deleteAfter" = NULL WHERE "did" = ?`).run(did)
}

/**
 * Applies or lifts a takedown (`ref` defaults to the current time, as official). Either way the
 * account's sessions end: refresh tokens and OAuth tokens are deleted, as the official
 * takedownAccount does.
 */
export function setTakedown(t: AccountTables, did: string, takedown: { applied: boolean; ref?: string | null }): void {
  const ref = takedown.applied ? (takedown.ref ?? t.nowIso()) : null
  writeTx(t.db, () => {
    t.q(`UPDATE "actor" SET "takedownRef" = ? WHERE "did" = ?`).run(ref, did)
    revokeRefreshTokensByDid(t, did)
    deleteOAuthTokens(t, did)
  })
}

export function getAdminStatus(
  t: AccountTables,
  did: string,
): { takedown: { applied: boolean; ref?: string }; deactivated: { applied: boolean } } | null {
  const row = t.q(`SELECT "takedownRef", "deactivatedAt" FROM "actor" WHERE "did" = ?`).get(did) as AccountStateColumns | undefined
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
export function deleteAccount(t: AccountTables, did: string): boolean {
  return writeTx(t.db, () => {
    const existed = t.q(`SELECT 1 FROM "actor" WHERE "did" = ?`).get(did) !== undefined
    deleteOAuthTokens(t, did)
    for (const table of ['repo_root', 'email_token', 'refresh_token', 'app_password', 'account_device', 'authorized_client', 'account', 'actor']) {
      t.q(`DELETE FROM "${table}" WHERE "did" = ?`).run(did)
    }
    deleteEmailAuthFactor(t, did)
    return existed
  })
}
