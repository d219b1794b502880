// A consistent read-only view of one actor store, for streamed exports (getRepo).
import type { Statement } from 'better-sqlite3'
import type { BlockSource } from '../repo/block-map.ts'
import { type Cid, parseCid } from '../repo/cid.ts'
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

  /** Blocks stored by commits after `rev`, newest first (the official getRepo `since` order). */
  *blocksSince(rev: string): Generator<[Cid, Uint8Array]> {
    const stmt = this.db.prepare(
      'SELECT "cid", "content" FROM repo_block WHERE "repoRev" > ? ORDER BY "repoRev" DESC, "cid" DESC',
    )
    for (const row of stmt.iterate(rev) as Iterable<{ cid: string; content: Uint8Array }>) {
      yield [parseCid(row.cid), row.content]
    }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}
