// The repo_root table: each hosted repo's head (commit CID and rev), mirrored from the actor
// store on every commit, as the official PDS keeps it; sync.listRepos reads it.
import { invalidRequest } from '../errors.ts'
import { decodeCbor } from '../repo/cbor.ts'
import { isCid } from '../repo/cid.ts'
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

// ---- written behind the event log ----
//
// A commit's new head reaches repo_root from its #commit event (whoever appended it: the write
// path, or the outbox replay of a commit whose append a crash cut off), and not one statement per
// commit: heads are noted as the log appends them and written together (flushRepoRoots) within
// FLUSH_AFTER_MS, with the seq of the last event they include. Everything in Hearth that reads
// repo_root writes what is pending first, so a reader never sees an older head; a clean stop
// writes it too, so the official PDS finds the table current. After a crash, the start replays
// the log past that seq (actions/repo-roots.ts). An update only ever moves a head forward (a
// later rev), so a replay, or a head noted for an account deleted and created again since,
// changes nothing it should not.

/** How long a noted head may wait before it is written. */
const FLUSH_AFTER_MS = 1000

interface PendingHeads {
  /** The latest #commit event of each account not yet in repo_root. */
  events: Map<string, Uint8Array>
  /** The seq of the last event noted. */
  seq: number
  timer: NodeJS.Timeout | null
}

const pendingByStore = new WeakMap<AccountTables, PendingHeads>()

/**
 * Notes the heads of appended #commit events (rows of the event log, in seq order). Cheap: the
 * event is decoded when the batch is written.
 */
export function noteCommitEvents(t: AccountTables, rows: ReadonlyArray<{ seq: number; did: string; eventType: string; event: Uint8Array }>): void {
  let p = pendingByStore.get(t)
  for (const row of rows) {
    if (row.eventType !== 'append') continue
    if (!p) pendingByStore.set(t, (p = { events: new Map(), seq: 0, timer: null }))
    p.events.set(row.did, row.event)
    if (row.seq > p.seq) p.seq = row.seq
  }
  if (p && p.events.size > 0 && !p.timer) {
    const pending = p
    pending.timer = setTimeout(() => {
      pending.timer = null
      try {
        flushRepoRoots(t)
      } catch {
        // e.g. the disk full or the database closed: the heads stay pending, and the next
        // reader or stop writes them (and reports the error there).
      }
    }, FLUSH_AFTER_MS)
    pending.timer.unref()
  }
}

/** Writes the pending heads and the seq they reach, in one transaction. */
export function flushRepoRoots(t: AccountTables): void {
  const p = pendingByStore.get(t)
  if (!p) return
  if (p.timer) {
    clearTimeout(p.timer)
    p.timer = null
  }
  if (p.events.size === 0) return
  const update = t.q(`UPDATE "repo_root" SET "cid" = ?, "rev" = ? WHERE "did" = ? AND "rev" < ?`)
  const mark = t.q(`INSERT INTO "hearth_repo_root_seq" ("id", "seq") VALUES (0, ?) ON CONFLICT ("id") DO UPDATE SET "seq" = excluded."seq"`)
  t.db.transaction(() => {
    for (const [did, event] of p.events) {
      const head = commitHead(event)
      if (head) update.run(head.cid, head.rev, did, head.rev)
    }
    mark.run(p.seq)
  }).immediate()
  p.events.clear()
}

/** The seq up to which repo_root holds every commit's head (null: not recorded yet). */
export function repoRootSeq(t: AccountTables): number | null {
  const p = pendingByStore.get(t)
  if (p && p.events.size > 0) flushRepoRoots(t)
  const row = t.q(`SELECT "seq" FROM "hearth_repo_root_seq" WHERE "id" = 0`).get() as { seq: number } | undefined
  return row?.seq ?? null
}

/** Records that repo_root holds every commit up to `seq` (a start that found it current). */
export function setRepoRootSeq(t: AccountTables, seq: number): void {
  t.q(`INSERT INTO "hearth_repo_root_seq" ("id", "seq") VALUES (0, ?) ON CONFLICT ("id") DO UPDATE SET "seq" = excluded."seq"`).run(seq)
}

function commitHead(event: Uint8Array): { cid: string; rev: string } | null {
  const body = decodeCbor(event) as { commit?: unknown; rev?: unknown } | null
  if (!body || !isCid(body.commit) || typeof body.rev !== 'string') return null
  return { cid: body.commit.$link, rev: body.rev }
}

export function getRepoRoot(t: AccountTables, did: string): RepoRootRow | null {
  flushRepoRoots(t)
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
  flushRepoRoots(t)
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
