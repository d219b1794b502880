// The embedded directory's operations, in `<data>/plc.sqlite`. The table mirrors the PLC server's
// `operations` (did, operation, cid, nullified, createdAt) with one addition: `seq`, the order of
// arrival, because two operations can share a millisecond and the order of a DID's log must not
// depend on a timestamp tie. The file is Hearth's own (the official PDS has no local directory),
// so its migrations are all Hearth migrations.
import type Database from 'better-sqlite3'
import { type Db, LIMIT_PARAM, migrate, openDb, writeTx } from '../storage/sqlite.ts'
import type { PlcAnyOp, PlcAuditEntry } from '../identity/plc-lib.ts'

type Statement = Database.Statement<unknown[]>

const MIGRATIONS = {
  official: [],
  hearth: [
    {
      name: 'plc-001-operations',
      up(db: Db) {
        db.exec(`
          CREATE TABLE "operations" (
            "seq" integer PRIMARY KEY AUTOINCREMENT,
            "did" varchar NOT NULL,
            "operation" text NOT NULL,
            "cid" varchar NOT NULL,
            "nullified" integer NOT NULL DEFAULT 0,
            "createdAt" varchar NOT NULL,
            UNIQUE ("did", "cid")
          );
          CREATE INDEX "operations_did_seq_idx" ON "operations" ("did", "seq");
        `)
      },
    },
  ],
}

interface Row {
  seq: number
  did: string
  operation: string
  cid: string
  nullified: number
  createdAt: string
}

export interface StoredOp {
  did: string
  operation: PlcAnyOp
  cid: string
  nullified: boolean
  createdAt: string
}

function fromRow(row: Row): StoredOp {
  return {
    did: row.did,
    operation: JSON.parse(row.operation) as PlcAnyOp,
    cid: row.cid,
    nullified: row.nullified !== 0,
    createdAt: row.createdAt,
  }
}

export class PlcStoreConflictError extends Error {
  override name = 'PlcStoreConflictError'
}

export class PlcStore {
  readonly #db: Db
  readonly #ops: Statement
  readonly #allOps: Statement
  readonly #last: Statement
  readonly #insert: Statement
  readonly #nullify: Statement
  readonly #export: Statement
  readonly #exportAfter: Statement

  constructor(path: string) {
    this.#db = openDb(path)
    migrate(this.#db, MIGRATIONS)
    this.#ops = this.#db.prepare(`SELECT * FROM "operations" WHERE "did" = ? AND "nullified" = 0 ORDER BY "seq"`)
    this.#allOps = this.#db.prepare(`SELECT * FROM "operations" WHERE "did" = ? ORDER BY "seq"`)
    this.#last = this.#db.prepare(`SELECT * FROM "operations" WHERE "did" = +? AND "nullified" = 0 ORDER BY "seq" DESC LIMIT 1`)
    this.#insert = this.#db.prepare(
      `INSERT INTO "operations" ("did", "operation", "cid", "nullified", "createdAt") VALUES (?, ?, ?, 0, ?)`,
    )
    this.#nullify = this.#db.prepare(`UPDATE "operations" SET "nullified" = 1 WHERE "did" = ? AND "cid" = ?`)
    this.#export = this.#db.prepare(`SELECT * FROM "operations" ORDER BY "seq" ${LIMIT_PARAM}`)
    this.#exportAfter = this.#db.prepare(`SELECT * FROM "operations" WHERE "createdAt" > ? ORDER BY "seq" ${LIMIT_PARAM}`)
  }

  /** The DID's operations, oldest first; nullified ones only when asked for. */
  opsForDid(did: string, includeNullified = false): StoredOp[] {
    const stmt = includeNullified ? this.#allOps : this.#ops
    return (stmt.all(did) as Row[]).map(fromRow)
  }

  lastOpForDid(did: string): StoredOp | null {
    const row = this.#last.get(did) as Row | undefined
    return row ? fromRow(row) : null
  }

  /**
   * Appends an operation and marks `nullified` (CIDs) as nullified, in one transaction, provided
   * the DID's last canonical operation is still `expectedLastCid` (null: the DID has none): the
   * validation ran against that state, and anything else means another write got in between.
   */
  append(did: string, op: PlcAnyOp, cid: string, createdAt: string, expectedLastCid: string | null, nullified: string[]): void {
    writeTx(this.#db, () => {
      const last = this.#last.get(did) as Row | undefined
      if ((last?.cid ?? null) !== expectedLastCid) {
        throw new PlcStoreConflictError('Proposed prev does not match the most recent operation')
      }
      try {
        this.#insert.run(did, JSON.stringify(op), cid, createdAt)
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new PlcStoreConflictError('Operation already in the log')
        }
        throw err
      }
      for (const c of nullified) this.#nullify.run(did, c)
    })
  }

  /** All operations in arrival order (`/export`), optionally those created after an ISO time. */
  exportOps(count: number, after?: string): PlcAuditEntry[] {
    const rows = (after === undefined ? this.#export.all(count) : this.#exportAfter.all(after, count)) as Row[]
    return rows.map(fromRow)
  }

  close(): void {
    this.#db.close()
  }
}
