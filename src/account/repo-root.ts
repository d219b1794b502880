// The repo_root table: each hosted repo's head (commit CID and rev), mirrored from the actor
// store whenever the head moves, as the official PDS keeps it; sync.listRepos reads it.
import { invalidRequest } from '../errors.ts'
import { readCar } from '../repo/car/reader.ts'
import { BytesWrapper, bytesOf, decodeCbor } from '../repo/cbor.ts'
import { isCid } from '../repo/cid.ts'
import { LIMIT_PARAM } from '../storage/sqlite.ts'
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
// A repo's new head reaches repo_root from the event that announces it (whoever appended it: the
// write path, activation, account creation, or the outbox replay of a commit whose append a crash
// cut off), and not one statement per head: heads are noted as the log appends them and written
// together (flushRepoRoots) within FLUSH_AFTER_MS, with the seq of the last event they include.
// Everything in Hearth that reads repo_root writes what is pending first, so a reader never sees
// an older head; a clean stop writes it too, so the official PDS finds the table current. After a
// crash, the start replays the log past that seq (actions/repo-roots.ts).
//
// Two events carry a head. A #commit only ever moves a head forward (a later rev), so a replay,
// or a head noted for an account deleted and created again since, changes nothing it should not.
// A #sync says "the repo is now this commit", whatever came before: activation's #sync is how an
// importRepo's head is announced, and its rev may be older than the table's (the official PDS
// keeps the imported commit's rev, older than the empty repo the migrated account was created
// with; a log it wrote is replayed here after an in-place switch). So a #sync sets the head as it
// is, and so does every #commit after it in the same batch (they follow the reset in the log). A
// deletion's #account event drops what is pending for the account: its row is gone, and a head
// noted before must not reach an account created again with the same DID.

/** How long a noted head may wait before it is written. */
const FLUSH_AFTER_MS = 1000

interface PendingHead {
  /** The account's latest #commit or #sync event not yet in repo_root. */
  event: Uint8Array
  eventType: 'append' | 'sync'
  /** A #sync is among the events noted since the last write: the head is set, not moved forward. */
  reset: boolean
}

interface PendingHeads {
  heads: Map<string, PendingHead>
  /** The seq of the last event noted. */
  seq: number
  timer: NodeJS.Timeout | null
}

const pendingByStore = new WeakMap<AccountTables, PendingHeads>()

/**
 * Notes the heads of appended #commit and #sync events (rows of the event log, in seq order), and
 * forgets those of deleted accounts. Cheap: a head event is decoded when the batch is written.
 */
export function noteHeadEvents(t: AccountTables, rows: ReadonlyArray<{ seq: number; did: string; eventType: string; event: Uint8Array }>): void {
  let p = pendingByStore.get(t)
  for (const row of rows) {
    if (row.eventType === 'append' || row.eventType === 'sync') {
      if (!p) pendingByStore.set(t, (p = { heads: new Map(), seq: 0, timer: null }))
      const reset = row.eventType === 'sync' || (p.heads.get(row.did)?.reset ?? false)
      p.heads.set(row.did, { event: row.event, eventType: row.eventType, reset })
      if (row.seq > p.seq) p.seq = row.seq
    } else if (row.eventType === 'account' && p?.heads.has(row.did) && isDeletion(row.event)) {
      p.heads.delete(row.did)
    }
  }
  if (p && p.heads.size > 0 && !p.timer) {
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
  if (p.heads.size === 0) return
  const forward = t.q(`UPDATE "repo_root" SET "cid" = ?, "rev" = ? WHERE "did" = ? AND "rev" < ?`)
  const set = t.q(`UPDATE "repo_root" SET "cid" = ?, "rev" = ? WHERE "did" = ?`)
  const mark = t.q(`INSERT INTO "hearth_repo_root_seq" ("id", "seq") VALUES (0, ?) ON CONFLICT ("id") DO UPDATE SET "seq" = excluded."seq"`)
  t.db.transaction(() => {
    for (const [did, pending] of p.heads) {
      const head = pending.eventType === 'sync' ? syncHead(pending.event) : commitHead(pending.event)
      if (!head) continue
      if (pending.reset) set.run(head.cid, head.rev, did)
      else forward.run(head.cid, head.rev, did, head.rev)
    }
    mark.run(p.seq)
  }).immediate()
  p.heads.clear()
}

/** The seq up to which repo_root holds every commit's head (null: not recorded yet). */
export function repoRootSeq(t: AccountTables): number | null {
  const p = pendingByStore.get(t)
  if (p && p.heads.size > 0) flushRepoRoots(t)
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

/** A #sync names its commit as the root of the CAR it carries (the commit block alone). */
function syncHead(event: Uint8Array): { cid: string; rev: string } | null {
  const body = decodeCbor(event) as { blocks?: unknown; rev?: unknown } | null
  const blocks = body?.blocks
  if (!body || !(blocks instanceof BytesWrapper || blocks instanceof Uint8Array) || typeof body.rev !== 'string') return null
  try {
    const root = readCar(bytesOf(blocks), { verifyHashes: false }).root
    return root ? { cid: root.$link, rev: body.rev } : null
  } catch {
    return null
  }
}

function isDeletion(event: Uint8Array): boolean {
  const body = decodeCbor(event) as { status?: unknown } | null
  return body?.status === 'deleted'
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
  const order = `ORDER BY a."createdAt" ASC, a."did" ASC ${LIMIT_PARAM}`
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
