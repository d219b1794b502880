// A consistent read-only view of one actor store, for streamed exports (getRepo).
import type { Statement } from 'better-sqlite3'
import type { BlockSource } from '../repo/block-map.ts'
import type { PackedCarBlocks, RawCarBlock } from '../repo/car/index.ts'
import { type Cid, parseCid, storedCidBytes } from '../repo/cid.ts'
import { type Db, openDb } from '../storage/sqlite.ts'

/** Bytes of block content a getRepo page reads at once, beyond its last block (see allBlocks). */
export const PAGE_BYTES = 1024 * 1024

/**
 * A read-only snapshot of an actor's store.sqlite on its own connection. A streamed export
 * spans many event-loop turns, and writes to the repo in between delete the blocks the old
 * head used; one read transaction (WAL) keeps every block of the exported commit readable
 * until the stream ends, and the store's shared connection stays free for writes.
 */
export class RepoSnapshot implements BlockSource {
  private readonly db: Db
  private readonly getBlockStmt: Statement
  readonly head: { cid: Cid; rev: string } | null

  constructor(dbPath: string, did: string) {
    // Through openDb: on Node 22+ it loads the Node-API build (better-sqlite3 12 aborts Node 24).
    this.db = openDb(dbPath, { readonly: true })
    try {
      this.db.prepare('BEGIN').run()
      // The first read fixes the snapshot.
      const row = this.db.prepare('SELECT "cid", "rev" FROM repo_root WHERE "did" = ?').get(did) as
        | { cid: string; rev: string }
        | undefined
      this.head = row ? { cid: parseCid(row.cid), rev: row.rev } : null
      this.getBlockStmt = this.db.prepare('SELECT "content" FROM repo_block WHERE "cid" = ?').pluck()
    } catch (err) {
      this.db.close()
      throw err
    }
  }

  getBlock(cid: Cid): Uint8Array | undefined {
    return (this.getBlockStmt.get(cid.$link) as Uint8Array | undefined) ?? undefined
  }

  /**
   * Every block of the repo, in table order: one scan, no lookup per block and no walk of the
   * tree. The table holds the repo's blocks exactly (each commit deletes the blocks it stops
   * using, in its own transaction; imports go through the same commit), and it is what the
   * official getRepo serves too: its block table as it stands, not a walk from the root.
   */
  *allBlocks(pageBytes = PAGE_BYTES): Generator<PackedCarBlocks> {
    // A page of rows comes back as one row of three aggregates: better-sqlite3 makes a Buffer
    // for every blob it returns (~1.8 µs each, most of the export's cost when every block was
    // its own row), and here makes one per page. group_concat is binary-safe in a UTF-8 database
    // (every store is: it copies each value's bytes with their length, no transcoding), and CAST
    // to BLOB keeps the bytes as they are. All three aggregates step through the same rows in the
    // same order, so they line up whatever order SQLite feeds them in.
    //
    // A page is at most 256 rows and ends at the row that reaches `pageBytes`: getRepo is public
    // and a page is held twice for a moment (SQLite's copy and the Buffer), so without the byte
    // bound a repo of large records would make each concurrent export hold hundreds of MiB (and a
    // page of blocks averaging ~4 MB would pass SQLite's 1e9-byte value limit and fail mid-stream).
    // The next 256 rows' lengths are summed first (SQLite reads a blob's length from its record
    // header, not its content); only when they pass the budget are the lengths read one by one
    // to find where the page ends. A running sum in SQL (a window) cost as much as the page.
    const span = this.db
      .prepare(`SELECT max(r), sum(l) FROM (SELECT rowid AS r, length("content") AS l FROM repo_block WHERE rowid > ? ORDER BY rowid LIMIT 256)`)
      .raw()
    const lengths = this.db.prepare(`SELECT rowid, length("content") FROM repo_block WHERE rowid > ? ORDER BY rowid LIMIT 256`).raw()
    const page = this.db
      .prepare(
        `SELECT group_concat(c, ' '), CAST(group_concat(b, '') AS BLOB), group_concat(length(b)) ` +
          `FROM (SELECT "cid" AS c, "content" AS b FROM repo_block WHERE rowid > ? AND rowid <= ? ORDER BY rowid)`,
      )
      .raw()
    const budget = Math.max(1, pageBytes)
    let after = -1
    for (;;) {
      let [last, bytes] = span.get(after) as [number | null, number | null]
      if (last === null) return
      if (bytes! > budget) {
        let before = 0
        for (const [r, l] of lengths.all(after) as Array<[number, number]>) {
          if (before >= budget) break
          last = r
          before += l
        }
      }
      const row = page.get(after, last) as [string, Uint8Array, string]
      yield { cids: row[0], lengths: row[2], bytes: row[1] }
      after = last
    }
  }

  /** Blocks stored by commits after `rev`, newest first (the official getRepo `since` order). */
  *blocksSince(rev: string): Generator<RawCarBlock> {
    const stmt = this.db.prepare('SELECT "cid", "content" FROM repo_block WHERE "repoRev" > ? ORDER BY "repoRev" DESC, "cid" DESC')
    yield* this.scan(stmt.raw().iterate(rev))
  }

  private *scan(rows: IterableIterator<unknown>): Generator<RawCarBlock> {
    for (const row of rows as IterableIterator<[string, Uint8Array]>) yield { cidBytes: storedCidBytes(row[0]), bytes: row[1] }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}
