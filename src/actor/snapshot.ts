// A consistent read-only view of one actor store, for streamed exports (getRepo).
import type { Statement } from 'better-sqlite3'
import type { BlockSource } from '../repo/block-map.ts'
import type { RawCarBlock } from '../repo/car/index.ts'
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
  *allBlocks(): Generator<RawCarBlock> {
    // Pages by rowid rather than one iterate(): better-sqlite3 steps an iterator through native
    // code one row per call, a page of rows comes back in one (the export's largest cost, halved).
    const page = this.db.prepare('SELECT rowid, "cid", "content" FROM repo_block WHERE rowid > ? ORDER BY rowid LIMIT 512').raw()
    let after = -1
    for (;;) {
      const rows = page.all(after) as Array<[number, string, Uint8Array]>
      for (let i = 0; i < rows.length; i++) yield { cidBytes: storedCidBytes(rows[i][1]), bytes: rows[i][2] }
      if (rows.length < 512) return
      after = rows[rows.length - 1][0]
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
