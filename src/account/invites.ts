// The invite_code and invite_code_use tables, and the account's invitesDisabled flag: admin-made
// codes, the users' own periodic codes, their uses, and the admin listings, in the official
// formats (codes `<hostname with dots as dashes>-xxxxx-xxxxx`, the `<primary>::<code>` cursor).
import { LIMIT_PARAM, writeTx } from '../storage/sqlite.ts'
import { invalidRequest, type XrpcError } from '../errors.ts'
import { unpackCursor } from './cursor.ts'
import { newInviteCode } from './random.ts'
import type { AccountTables } from './tables.ts'

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

/** `count` new codes in the official format; needs the `hostname` option. */
export function generateInviteCodes(t: AccountTables, count: number): string[] {
  const hostname = t.hostname
  if (!hostname) throw new Error('AccountStore needs the hostname option to generate invite codes')
  return Array.from({ length: count }, () => newInviteCode(hostname))
}

/** Admin-made codes (createdBy `admin`), each usable `useCount` times; `account` is a DID or `admin`. */
export function createInviteCodes(
  t: AccountTables,
  toCreate: ReadonlyArray<{ account: string; codes: readonly string[] }>,
  useCount: number,
): void {
  const createdAt = t.nowIso()
  const insert = t.q(
    `INSERT INTO "invite_code" ("code", "availableUses", "disabled", "forAccount", "createdBy", "createdAt") VALUES (?, ?, 0, ?, 'admin', ?)`,
  )
  writeTx(t.db, () => {
    for (const { account, codes } of toCreate) for (const code of codes) insert.run(code, useCount, account, createdAt)
  })
}

/**
 * A user's own periodic codes (single use, createdBy the user). `expectedTotal` is how many
 * non-admin codes the account should have afterwards; more means another request made codes
 * at the same time, and nothing is created (400 DuplicateCreate).
 */
export function createAccountInviteCodes(
  t: AccountTables,
  forAccount: string,
  codes: readonly string[],
  expectedTotal: number,
  disabled: boolean,
): InviteCodeInfo[] {
  const createdAt = t.nowIso()
  const insert = t.q(
    `INSERT INTO "invite_code" ("code", "availableUses", "disabled", "forAccount", "createdBy", "createdAt") VALUES (?, 1, ?, ?, ?, ?)`,
  )
  writeTx(t.db, () => {
    for (const code of codes) insert.run(code, disabled ? 1 : 0, forAccount, forAccount, createdAt)
    const { n } = t.q(`SELECT count(*) AS "n" FROM "invite_code" WHERE "forAccount" = ? AND "createdBy" != 'admin'`).get(
      forAccount,
    ) as { n: number }
    if (n > expectedTotal) throw invalidRequest('attempted to create additional codes in another request', 'DuplicateCreate')
  })
  return codes.map((code) => ({ code, available: 1, disabled, forAccount, createdBy: forAccount, createdAt, uses: [] }))
}

/** Not disabled, not for a taken-down account, and with uses left. */
export function isInviteAvailable(t: AccountTables, code: string): boolean {
  const row = t.q(
    `SELECT i."availableUses", i."disabled", (SELECT count(*) FROM "invite_code_use" u WHERE u."code" = i."code") AS "uses"
     FROM "invite_code" i LEFT JOIN "actor" a ON a."did" = i."forAccount"
     WHERE i."code" = +? AND a."takedownRef" IS NULL`,
  ).get(code) as { availableUses: number; disabled: number | null; uses: number } | undefined
  return row !== undefined && !row.disabled && row.availableUses > row.uses
}

/** 400 InvalidInviteCode unless the code is available. */
export function ensureInviteAvailable(t: AccountTables, code: string): void {
  if (!isInviteAvailable(t, code)) throw inviteNotAvailable()
}

/** Checks the code and records its use by `did` atomically (400 InvalidInviteCode when not available). */
export function useInviteCode(t: AccountTables, code: string, did: string): void {
  const usedAt = t.nowIso()
  writeTx(t.db, () => recordInviteUse(t, code, did, usedAt))
}

/** useInviteCode's work, inside a transaction the caller holds. */
export function recordInviteUse(t: AccountTables, code: string, did: string, usedAt: string): void {
  if (!isInviteAvailable(t, code)) throw inviteNotAvailable()
  const res = t.q(`INSERT INTO "invite_code_use" ("code", "usedBy", "usedAt") VALUES (?, ?, ?) ON CONFLICT DO NOTHING`).run(
    code,
    did,
    usedAt,
  )
  if (res.changes === 0) throw inviteNotAvailable() // this account already used this code
}

/** The codes made for an account (both its own and admin-gifted), with their uses. */
export function getAccountInviteCodes(t: AccountTables, did: string): InviteCodeInfo[] {
  const rows = t.q(`${INVITE_SELECT} WHERE "forAccount" = ?`).all(did) as InviteRow[]
  return withUses(t, rows)
}

export function getAccountsInviteCodes(t: AccountTables, dids: readonly string[]): Map<string, InviteCodeInfo[]> {
  const out = new Map<string, InviteCodeInfo[]>()
  if (dids.length === 0) return out
  const rows = t.q(`${INVITE_SELECT} WHERE "forAccount" IN (SELECT value FROM json_each(?))`).all(
    JSON.stringify(dids),
  ) as InviteRow[]
  for (const info of withUses(t, rows)) {
    const list = out.get(info.forAccount)
    if (list) list.push(info)
    else out.set(info.forAccount, [info])
  }
  return out
}

/** Uses per code, newest first. */
export function getInviteCodesUses(t: AccountTables, codes: readonly string[]): Record<string, InviteCodeUse[]> {
  const uses: Record<string, InviteCodeUse[]> = {}
  if (codes.length === 0) return uses
  const rows = t.q(
    `SELECT "code", "usedBy", "usedAt" FROM "invite_code_use" WHERE "code" IN (SELECT value FROM json_each(?)) ORDER BY "usedAt" DESC`,
  ).all(JSON.stringify(codes)) as Array<{ code: string; usedBy: string; usedAt: string }>
  for (const { code, usedBy, usedAt } of rows) (uses[code] ??= []).push({ usedBy, usedAt })
  return uses
}

/** For each account, the code it signed up with. */
export function getInvitedByForAccounts(t: AccountTables, dids: readonly string[]): Record<string, InviteCodeInfo> {
  const out: Record<string, InviteCodeInfo> = {}
  if (dids.length === 0) return out
  const rows = t.q(
    `${INVITE_SELECT} WHERE "code" IN (SELECT DISTINCT "code" FROM "invite_code_use" WHERE "usedBy" IN (SELECT value FROM json_each(?)))`,
  ).all(JSON.stringify(dids)) as InviteRow[]
  for (const info of withUses(t, rows)) for (const use of info.uses) out[use.usedBy] = info
  return out
}

/**
 * admin.getInviteCodes: newest first (`recent`) or most used first (`usage`), with the
 * official `<primary>::<code>` cursor (400 "Malformed cursor" on a bad one).
 */
export function listInviteCodes(
  t: AccountTables,
  opts: { sort?: 'recent' | 'usage'; limit: number; cursor?: string },
): { codes: InviteCodeInfo[]; cursor?: string } {
  const sort = opts.sort ?? 'recent'
  const primary = sort === 'recent' ? 'createdAt' : 'uses'
  const base = `SELECT * FROM (${INVITE_SELECT}) AS codes`
  const order = `ORDER BY "${primary}" DESC, "code" DESC ${LIMIT_PARAM}`
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
    rows = t.q(`${base} WHERE ("${primary}" < ?) OR ("${primary}" = ? AND "code" < ?) ${order}`).all(
      key,
      key,
      parsed.secondary,
      opts.limit,
    ) as InviteRow[]
  } else {
    rows = t.q(`${base} ${order}`).all(opts.limit) as InviteRow[]
  }
  const last = rows.at(-1)
  const cursor = last ? `${sort === 'recent' ? new Date(last.createdAt).getTime() : last.uses}::${last.code}` : undefined
  return { codes: withUses(t, rows), cursor }
}

function withUses(t: AccountTables, rows: InviteRow[]): InviteCodeInfo[] {
  const uses = getInviteCodesUses(t, rows.map((r) => r.code))
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

export function disableInviteCodes(t: AccountTables, opts: { codes?: readonly string[]; accounts?: readonly string[] }): void {
  writeTx(t.db, () => {
    if (opts.codes?.length) {
      t.q(`UPDATE "invite_code" SET "disabled" = 1 WHERE "code" IN (SELECT value FROM json_each(?))`).run(JSON.stringify(opts.codes))
    }
    if (opts.accounts?.length) {
      t.q(`UPDATE "invite_code" SET "disabled" = 1 WHERE "forAccount" IN (SELECT value FROM json_each(?))`).run(
        JSON.stringify(opts.accounts),
      )
    }
  })
}

export function setAccountInvitesDisabled(t: AccountTables, did: string, disabled: boolean): void {
  t.q(`UPDATE "account" SET "invitesDisabled" = ? WHERE "did" = ?`).run(disabled ? 1 : 0, did)
}

function inviteNotAvailable(): XrpcError {
  return invalidRequest('Provided invite code not available', 'InvalidInviteCode')
}
