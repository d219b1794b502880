// The per-actor `blob` and `record_blob` tables (official schema, actor store migration 001):
//   blob(cid PK, mimeType, size, tempKey, width, height, createdAt, takedownRef)
//   record_blob(blobCid, recordUri)  PK (blobCid, recordUri)
// A blob row with a tempKey is an upload whose file is still in temp storage ("untethered" until
// a record references it); tempKey NULL means the file is at its permanent path.
//
// Everything here is synchronous database work, meant to run inside the caller's transaction.
// Disk work is never done here: functions return what the caller must do on disk once the
// transaction has committed (actions/blob-apply.ts, which also keeps that work in commit order). A committed
// row keeps its tempKey until its file has been moved, so every acknowledged blob stays
// reachable after a crash: `pendingPermanent` finds whatever a crash left half done.
import type Database from 'better-sqlite3'
import { type Cid, isCid } from '../repo/cid.ts'
import type { BlobRef } from '../repo/data-model.ts'
import { isValidCidString } from '../repo/syntax.ts'
import { type Db, LIMIT_PARAM } from '../storage/sqlite.ts'
import { invalidRequest } from '../errors.ts'

/** A blob reference found in a record. */
export interface BlobRefInfo {
  cid: Cid
  mimeType: string
  size: number
}

/** A committed blob whose temp file must be moved to its permanent path. */
export interface PendingPermanent {
  cid: string
  tempKey: string
}

/** A deleted blob row whose files must be removed (the permanent file, and the temp one if set). */
export interface BlobFiles {
  cid: string
  tempKey: string | null
}

/** Disk work to do after the transaction commits. */
export interface BlobPlan {
  makePermanent: PendingPermanent[]
  deleteFiles: BlobFiles[]
  /** Temp uploads that turned out redundant. */
  discardTempKeys: string[]
}

export const emptyPlan = (): BlobPlan => ({ makePermanent: [], deleteFiles: [], discardTempKeys: [] })

// --- finding blob refs in records -------------------------------------------------------------

/**
 * Every blob ref in a decoded record, in document order: `{ $type: 'blob', ref, mimeType, size }`
 * objects, found as the official PDS finds them (lex-data `enumBlobRefs`, non-strict: any CID as
 * ref, size -1 tolerated, no extra keys). A legacy ref (`{ cid, mimeType }`) is refused with 400
 * InvalidRequest, as the official refuses it on write.
 */
export function blobRefsInRecord(value: unknown): BlobRefInfo[] {
  const out: BlobRefInfo[] = []
  const seen = new Set<object>()
  // An explicit stack, not recursion: a hostile record may nest deeper than the call stack goes.
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || typeof v !== 'object' || seen.has(v)) continue
    if (Array.isArray(v)) {
      seen.add(v)
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i])
      continue
    }
    if (!isPlainObject(v)) continue // CIDs, bytes
    seen.add(v)
    const ref = asBlobRef(v)
    if (ref) {
      out.push(ref)
      continue
    }
    if (isLegacyBlobRef(v)) throw invalidRequest(`Legacy blobs are not allowed (${v.cid})`)
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) stack.push(v[keys[i]])
  }
  return out
}

function asBlobRef(v: Record<string, unknown>): BlobRefInfo | null {
  if (v.$type !== 'blob') return null
  const { mimeType, size, ref } = v
  if (typeof mimeType !== 'string' || !mimeType.includes('/')) return null
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < -1) return null
  if (!isCid(ref)) return null
  for (const key in v) if (key !== '$type' && key !== 'mimeType' && key !== 'ref' && key !== 'size') return null
  return { cid: ref, mimeType, size }
}

function isLegacyBlobRef(v: Record<string, unknown>): v is { cid: string; mimeType: string } {
  const { cid, mimeType } = v
  if (typeof cid !== 'string' || typeof mimeType !== 'string' || mimeType.length === 0) return false
  for (const key in v) if (key !== 'cid' && key !== 'mimeType') return false
  return isValidCidString(cid)
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

// --- commit-time hooks --------------------------------------------------------------------------

interface BlobCheckRow {
  tempKey: string | null
  size: number
  mimeType: string
}

export interface RecordBlobWrite {
  action: 'create' | 'update' | 'delete'
  /** The record's AT-URI. */
  uri: string
  /** For creates and updates: blobRefsInRecord(record). */
  blobs?: BlobRefInfo[]
}

// --- uploads ------------------------------------------------------------------------------------

export interface UntetheredBlob {
  cid: Cid
  mimeType: string
  size: number
  tempKey: string
  /** ISO datetime; default now. */
  createdAt?: string
}

export interface TrackResult {
  /** The blob ref uploadBlob answers with. */
  ref: BlobRef
  /** Disk work after commit: the upload's temp file to make permanent, or redundant temp files. */
  plan: BlobPlan
}

// --- reads and moderation -----------------------------------------------------------------------

export interface BlobRow {
  cid: string
  mimeType: string
  size: number
  tempKey: string | null
  width: number | null
  height: number | null
  createdAt: string
  takedownRef: string | null
}

// --- garbage collection (see gc.ts) -------------------------------------------------------------

/**
 * The blob tables of one actor store. Its own object on the store's connection, so that work
 * meant for the store's transaction (a commit's blob links) runs on that same connection.
 */
export class BlobIndex {
  readonly #db: Db
  // Statements are prepared once per connection: preparing costs more than running these.
  readonly #statements = new Map<string, Database.Statement>()

  constructor(db: Db) {
    this.#db = db
  }

  /**
   * Checks that each referenced blob was uploaded by this actor and is not taken down; for blobs
   * still in temp storage, that the ref's mimeType and size equal the stored ones (a permanent
   * blob is not re-checked, as the official). Errors are the official's: 400 BlobNotFound,
   * InvalidMimeType, InvalidSize. Returns the temp blobs to make permanent (each CID once).
   */
  verifyBlobRefs(refs: Iterable<BlobRefInfo>): PendingPermanent[] {
    const find = this.#stmt(`SELECT "tempKey", "size", "mimeType" FROM "blob" WHERE "cid" = ? AND "takedownRef" IS NULL`)
    const pending = new Map<string, PendingPermanent>()
    for (const ref of refs) {
      const cid = ref.cid.$link
      const found = find.get(cid) as BlobCheckRow | undefined
      if (!found) throw invalidRequest(`Could not find blob: ${cid}`, 'BlobNotFound')
      if (found.tempKey === null) continue
      if (ref.mimeType !== found.mimeType) {
        throw invalidRequest(
          `Referenced Mimetype does not match stored blob. Expected: ${found.mimeType}, Got: ${ref.mimeType}`,
          'InvalidMimeType',
        )
      }
      if (ref.size !== found.size) {
        throw invalidRequest(`Referenced Size does not match stored blob. Expected: ${found.size}, Got: ${ref.size}`, 'InvalidSize')
      }
      if (!pending.has(cid)) pending.set(cid, { cid, tempKey: found.tempKey })
    }
    return [...pending.values()]
  }

  linkRecordBlobs(recordUri: string, refs: Iterable<BlobRefInfo>): void {
    const insert = this.#stmt(`INSERT INTO "record_blob" ("blobCid", "recordUri") VALUES (?, ?) ON CONFLICT DO NOTHING`)
    for (const ref of refs) insert.run(ref.cid.$link, recordUri)
  }

  /**
   * Removes a record's blob links (the record was deleted or is being replaced). Returns the CIDs
   * it referenced that no record references any more; their rows stay until dropUnreferencedBlobs.
   */
  unlinkRecord(recordUri: string): string[] {
    const rows = this.#stmt(`DELETE FROM "record_blob" WHERE "recordUri" = ? RETURNING "blobCid"`).all(recordUri) as Array<{
      blobCid: string
    }>
    const orphaned: string[] = []
    for (const { blobCid } of rows) if (!this.hasRecordsForBlob(blobCid)) orphaned.push(blobCid)
    return orphaned
  }

  /**
   * Deletes the rows of blobs that no record references, and returns their files for deletion
   * after commit. A still-referenced CID is skipped. So is a taken-down blob: its row is the
   * moderation decision (re-upload stays refused) and its file stays in quarantine.
   */
  dropUnreferencedBlobs(cids: Iterable<string>): BlobFiles[] {
    const del = this.#stmt(
      `DELETE FROM "blob" WHERE "cid" = ? AND "takedownRef" IS NULL
         AND NOT EXISTS (SELECT 1 FROM "record_blob" WHERE "record_blob"."blobCid" = "blob"."cid")
       RETURNING "cid", "tempKey"`,
    )
    const out: BlobFiles[] = []
    for (const cid of new Set(cids)) {
      const row = del.get(cid) as BlobFiles | undefined
      if (row) out.push(row)
    }
    return out
  }

  /**
   * All the blob bookkeeping of one commit, as the official `processWriteBlobs`: unlinks deleted
   * and updated records, verifies and links the blobs of created and updated ones, and drops the
   * blobs nothing references any more (a blob moved from one record to another in the same commit
   * is kept). Throws the verification errors; call inside the commit's transaction.
   */
  processWriteBlobs(writes: Iterable<RecordBlobWrite>): BlobPlan {
    const list = [...writes]
    // Creates without blobs (most posts, every like and follow) have nothing to link or unlink:
    // no savepoint, no statement.
    if (list.every((w) => w.action === 'create' && (!w.blobs || w.blobs.length === 0))) {
      return { makePermanent: [], deleteFiles: [], discardTempKeys: [] }
    }
    return this.#db.transaction(() => {
      const candidates = new Set<string>()
      for (const w of list) {
        if (w.action === 'create') continue
        for (const cid of this.unlinkRecord(w.uri)) candidates.add(cid)
      }
      const pending = new Map<string, PendingPermanent>()
      for (const w of list) {
        if (w.action === 'delete' || !w.blobs || w.blobs.length === 0) continue
        for (const p of this.verifyBlobRefs(w.blobs)) pending.set(p.cid, p)
        this.linkRecordBlobs(w.uri, w.blobs)
      }
      return {
        makePermanent: [...pending.values()],
        deleteFiles: this.dropUnreferencedBlobs(candidates),
        discardTempKeys: [],
      }
    })()
  }

  /** After a blob's file has been moved to its permanent path. */
  markPermanent(cid: string, tempKey: string): void {
    this.#stmt(`UPDATE "blob" SET "tempKey" = NULL WHERE "cid" = ? AND "tempKey" = ?`).run(cid, tempKey)
  }

  /**
   * Blobs that records reference but whose files are still in temp storage: a crash came between a
   * commit and the move. Finish them (actions/blob-apply.ts `finishPendingBlobs`) when the actor store opens.
   */
  pendingPermanent(): PendingPermanent[] {
    return this.#stmt(
      `SELECT "cid", "tempKey" FROM "blob" WHERE "tempKey" IS NOT NULL
         AND EXISTS (SELECT 1 FROM "record_blob" WHERE "record_blob"."blobCid" = "blob"."cid")`,
    ).all() as PendingPermanent[]
  }

  /**
   * Records an upload ("untethered" until a record references it), as the official
   * `trackUntetheredBlob`: a taken-down CID is refused (400 InvalidRequest); the same bytes
   * uploaded again do not make a second row. Where Hearth differs: re-uploading a blob that is
   * still temporary also refreshes its createdAt and mimeType (so the garbage collector's grace
   * period restarts, and the ref returned verifies) and returns the superseded temp file for
   * deletion; re-uploading a permanent blob hands the new temp file to makePermanent, which only
   * deletes it unless the permanent file had gone missing. If a record already references the
   * blob (an imported repo, blobs uploaded afterwards), it is made permanent at once, as the
   * official does. On error the caller deletes the upload's temp file.
   */
  trackUntethered(blob: UntetheredBlob): TrackResult {
    return this.#db.transaction((): TrackResult => {
      const cid = blob.cid.$link
      const createdAt = blob.createdAt ?? new Date().toISOString()
      const found = this.#stmt(`SELECT "tempKey", "takedownRef" FROM "blob" WHERE "cid" = ?`).get(cid) as
        | { tempKey: string | null; takedownRef: string | null }
        | undefined
      if (found?.takedownRef) throw invalidRequest('Blob has been takendown, cannot re-upload')
      const plan = emptyPlan()
      if (!found) {
        this.#stmt(`INSERT INTO "blob" ("cid", "mimeType", "size", "tempKey", "createdAt") VALUES (?, ?, ?, ?, ?)`).run(
          cid,
          blob.mimeType,
          blob.size,
          blob.tempKey,
          createdAt,
        )
      } else if (found.tempKey !== null) {
        this.#stmt(`UPDATE "blob" SET "tempKey" = ?, "mimeType" = ?, "createdAt" = ? WHERE "cid" = ?`).run(
          blob.tempKey,
          blob.mimeType,
          createdAt,
          cid,
        )
        if (found.tempKey !== blob.tempKey) plan.discardTempKeys.push(found.tempKey)
      }
      const isPermanent = found !== undefined && found.tempKey === null
      if (isPermanent || this.hasRecordsForBlob(cid)) plan.makePermanent.push({ cid, tempKey: blob.tempKey })
      return { ref: { $type: 'blob', ref: blob.cid, mimeType: blob.mimeType, size: blob.size }, plan }
    })()
  }

  getBlobRow(cid: string): BlobRow | undefined {
    return this.#stmt(`SELECT * FROM "blob" WHERE "cid" = ?`).get(cid) as BlobRow | undefined
  }

  /** What getBlob serves: undefined when unknown or taken down (the official hides both alike). */
  getBlobMetadata(cid: string): { mimeType: string; size: number } | undefined {
    return this.#stmt(`SELECT "mimeType", "size" FROM "blob" WHERE "cid" = ? AND "takedownRef" IS NULL`).get(cid) as
      | { mimeType: string; size: number }
      | undefined
  }

  hasRecordsForBlob(cid: string): boolean {
    return this.#stmt(`SELECT 1 FROM "record_blob" WHERE "blobCid" = ? LIMIT 1`).get(cid) !== undefined
  }

  getRecordBlobs(recordUri: string): string[] {
    const rows = this.#stmt(
      `SELECT "blob"."cid" AS "cid" FROM "blob" JOIN "record_blob" ON "record_blob"."blobCid" = "blob"."cid"
       WHERE "record_blob"."recordUri" = +?`,
    ).all(recordUri) as Array<{ cid: string }>
    return rows.map((r) => r.cid)
  }

  /** sync.listBlobs: CIDs referenced by records, optionally only records changed after `since`. */
  listBlobs(opts: { since?: string; cursor?: string; limit: number }): string[] {
    const where: string[] = []
    const args: unknown[] = []
    let from = `"record_blob"`
    if (opts.since) {
      from += ` JOIN "record" ON "record"."uri" = "record_blob"."recordUri"`
      where.push(`"record"."repoRev" > ?`)
      args.push(opts.since)
    }
    if (opts.cursor) {
      where.push(`"record_blob"."blobCid" > ?`)
      args.push(opts.cursor)
    }
    const sql = `SELECT "record_blob"."blobCid" AS "cid" FROM ${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
      GROUP BY "record_blob"."blobCid" ORDER BY "record_blob"."blobCid" ASC ${LIMIT_PARAM}`
    args.push(opts.limit)
    return (this.#stmt(sql).all(...args) as Array<{ cid: string }>).map((r) => r.cid)
  }

  /** The blobs records use that getBlob serves (uploaded, not taken down): how many, how big. */
  usedBlobTotals(): { count: number; bytes: number } {
    return this.#stmt(
      `SELECT count(*) AS "count", coalesce(sum("size"), 0) AS "bytes" FROM "blob"
       WHERE "takedownRef" IS NULL AND EXISTS (SELECT 1 FROM "record_blob" WHERE "record_blob"."blobCid" = "blob"."cid")`,
    ).get() as { count: number; bytes: number }
  }

  /** repo.listMissingBlobs: referenced by a record, never uploaded. */
  listMissingBlobs(opts: { cursor?: string; limit: number }): Array<{ cid: string; recordUri: string }> {
    const sql = `SELECT "blobCid" AS "cid", MIN("recordUri") AS "recordUri" FROM "record_blob"
      WHERE NOT EXISTS (SELECT 1 FROM "blob" WHERE "blob"."cid" = "record_blob"."blobCid")
      ${opts.cursor ? `AND "blobCid" > ?` : ''}
      GROUP BY "blobCid" ORDER BY "blobCid" ASC ${LIMIT_PARAM}`
    const args: unknown[] = opts.cursor ? [opts.cursor, opts.limit] : [opts.limit]
    return this.#stmt(sql).all(...args) as Array<{ cid: string; recordUri: string }>
  }

  /** checkAccountStatus: importedBlobs. */
  blobCount(): number {
    return (this.#stmt(`SELECT count(*) AS "n" FROM "blob"`).get() as { n: number }).n
  }

  /** checkAccountStatus: expectedBlobs. */
  recordBlobCount(): number {
    return (this.#stmt(`SELECT count(DISTINCT "blobCid") AS "n" FROM "record_blob"`).get() as { n: number }).n
  }

  getBlobTakedown(cid: string): { applied: boolean; ref?: string } | null {
    const row = this.#stmt(`SELECT "takedownRef" FROM "blob" WHERE "cid" = ?`).get(cid) as { takedownRef: string | null } | undefined
    if (!row) return null
    return row.takedownRef ? { applied: true, ref: row.takedownRef } : { applied: false }
  }

  /**
   * Sets or clears a blob's takedown (ref defaults to the current time, as the official). Returns
   * whether a row changed; the caller then quarantines or unquarantines the file.
   */
  setBlobTakedown(cid: string, takedown: { applied: boolean; ref?: string }): boolean {
    const ref = takedown.applied ? (takedown.ref ?? new Date().toISOString()) : null
    return this.#stmt(`UPDATE "blob" SET "takedownRef" = ? WHERE "cid" = ?`).run(ref, cid).changes > 0
  }

  /**
   * Deletes the rows of blobs no record references that were uploaded before `cutoff` (ISO
   * datetime, compared as the official's `toISOString()` strings sort): uploads never used, and,
   * with `includePermanent`, permanent blobs left without a reference. Taken-down blobs are kept.
   */
  takeUntethered(cutoff: string, includePermanent: boolean): BlobFiles[] {
    return this.#stmt(
      `DELETE FROM "blob" WHERE "takedownRef" IS NULL AND "createdAt" < ?
         AND ("tempKey" IS NOT NULL OR ?)
         AND NOT EXISTS (SELECT 1 FROM "record_blob" WHERE "record_blob"."blobCid" = "blob"."cid")
       RETURNING "cid", "tempKey"`,
    ).all(cutoff, includePermanent ? 1 : 0) as BlobFiles[]
  }

  /** Every temp key the table knows, so temp files without a row can be told apart. */
  knownTempKeys(): Set<string> {
    const rows = this.#stmt(`SELECT "tempKey" FROM "blob" WHERE "tempKey" IS NOT NULL`).all() as Array<{ tempKey: string }>
    return new Set(rows.map((r) => r.tempKey))
  }

  /** Whether a blob row still points at this temp file. */
  tempKeyInUse(tempKey: string): boolean {
    return this.#stmt(`SELECT 1 FROM "blob" WHERE "tempKey" = ? LIMIT 1`).get(tempKey) !== undefined
  }

  /** Whether a CID has a blob row or a record reference (a stored file that is not garbage). */
  isBlobKnown(cid: string): boolean {
    return this.getBlobRow(cid) !== undefined || this.hasRecordsForBlob(cid)
  }

  #stmt(sql: string): Database.Statement {
    let s = this.#statements.get(sql)
    if (!s) {
      s = this.#db.prepare(sql)
      this.#statements.set(sql, s)
    }
    return s
  }
}
