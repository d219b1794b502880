// A consistent read-only view of one actor store, for streamed exports (getRepo).
import type { Statement } from 'better-sqlite3'
import type { BlockSource } from '../repo/block-map.ts'
import type { PackedCarBlocks, RawCarBlock } from '../repo/car/index.ts'
import { type Cid, parseCid, storedCidBytes } from '../repo/cid.ts'
import { type Db, openDb } from '../storage/sqlite.ts'

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
  *allBlocks(): Generator<PackedCarBlocks> {
    // A page of rows comes back as one row of three aggregates: better-sqlite3 makes a Buffer
    // for every blob it returns (~1.8 µs each, most of the export's cost when every block was
    // its own row), and here makes one per page. group_concat is binary-safe in a UTF-8 database
    // (every store is: it copies each value's bytes with their length, no transcoding), and CAST to BLOB keeps the bytes as they are. All three
    // aggregates step through the same rows in the same order, so they line up whatever order
    // SQLite feeds them in. Pages of 256 rows: a page is held twice for a moment (SQLite's
    // copy and the Buffer), ≤ 512 MiB even if every block were at the 2 MiB limit.
    const page = this.db
      .prepare(
        `SELECT max(r), group_concat(c, ' '), CAST(group_concat(b, '') AS BLOB), group_concat(length(b)) ` +
          `FROM (SELECT rowid AS r, "cid" AS c, "content" AS b FROM repo_block WHERE rowid > ? ORDER BY rowid LIMIT 256)`,
      )
      .raw()
    let after = -1
    for (;;) {
      const row = page.get(after) as [number | null, string, Uint8Array, string]
      if (row[0] === null) return
      yield { cids: row[1], lengths: row[3], bytes: row[2] }
      after = row[0]
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
