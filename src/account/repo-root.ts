// The repo_root table: each hosted repo's head (commit CID and rev), mirrored from the actor
// store on every commit, as the official PDS keeps it; sync.listRepos reads it.
import { invalidRequest } from '../errors.ts'
import { unpackCursor } from './cursor.ts'
import { type AccountStatus, formatAccountStatus } from './status.ts'
import type { AccountTables } from './tables.ts'

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

/** Mirrors an actor's new head (the official keeps the first indexedAt). */
export function updateRepoRoot(t: AccountTables, did: string, cid: string, rev: string): void {
  upsertRepoRoot(t, did, cid, rev, t.nowIso())
}

export function upsertRepoRoot(t: AccountTables, did: string, cid: string, rev: string, indexedAt: string): void {
  t.q(
    `INSERT INTO "repo_root" ("did", "cid", "rev", "indexedAt") VALUES (?, ?, ?, ?)
     ON CONFLICT ("did") DO UPDATE SET "cid" = excluded."cid", "rev" = excluded."rev"`,
  ).run(did, cid, rev, indexedAt)
}

export function getRepoRoot(t: AccountTables, did: string): RepoRootRow | null {
  return (t.q(`SELECT "cid", "rev", "indexedAt" FROM "repo_root" WHERE "did" = ?`).get(did) as RepoRootRow | undefined) ?? null
}

/**
 * sync.listRepos: every hosted repo (any status) in account-creation order, with the official
 * `<createdAt ms>::<did>` cursor (400 "Malformed cursor" on a bad one).
 */
export function listRepos(t: AccountTables, opts: { limit: number; cursor?: string }): { repos: ListedRepo[]; cursor?: string } {
  const select = `SELECT a."did", r."cid" AS "head", r."rev", a."createdAt", a."deactivatedAt", a."takedownRef"
    FROM "actor" a INNER JOIN "repo_root" r ON r."did" = a."did"`
  const order = `ORDER BY a."createdAt" ASC, a."did" ASC LIMIT ?`
  type Row = { did: string; head: string; rev: string | null; createdAt: string; deactivatedAt: string | null; takedownRef: string | null }
  let rows: Row[]
  const parsed = unpackCursor(opts.cursor)
  if (parsed) {
    const date = new Date(Number.parseInt(parsed.primary, 10))
    if (Number.isNaN(date.getTime())) throw invalidRequest('Malformed cursor')
    rows = t.q(`${select} WHERE (a."createdAt", a."did") > (?, ?) ${order}`).all(date.toISOString(), parsed.secondary, opts.limit) as Row[]
  } else {
    rows = t.q(`${select} ${order}`).all(opts.limit) as Row[]
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
