// The DID document cache, `<data>/did_cache.sqlite`, in the official PDS's schema (table
// `did_doc(did, doc, updatedAt)`, Kysely migration `001`) so either server can use the other's
// file. An entry is fresh for PDS_DID_CACHE_STALE_TTL (1 h), then stale (still served while a
// refresh runs in the background) until PDS_DID_CACHE_MAX_TTL (1 day), then expired (resolved
// again before answering). Synchronous, as the driver is.
import type Database from 'better-sqlite3'
import { type Db, migrate, openDb } from '../storage/sqlite.ts'
import { DID_CACHE_MAX_TTL_MS, DID_CACHE_STALE_TTL_MS } from './defaults.ts'
import type { DidDocument } from './did-doc.ts'

type Statement = Database.Statement<unknown[]>

export { DID_CACHE_MAX_TTL_MS, DID_CACHE_STALE_TTL_MS } from './defaults.ts'

const MIGRATIONS = {
  official: [
    {
      name: '001',
      up(db: Db) {
        db.exec(`create table "did_doc" ("did" varchar primary key, "doc" text not null, "updatedAt" bigint not null)`)
      },
    },
  ],
}

export interface CacheResult {
  did: string
  doc: DidDocument
  /** Milliseconds since the epoch. */
  updatedAt: number
  stale: boolean
  expired: boolean
}

export interface DidCacheOptions {
  staleTtlMs?: number
  maxTtlMs?: number
  /** The clock (ms since the epoch); injectable for tests. */
  now?: () => number
}

export class DidCache {
  readonly staleTtlMs: number
  readonly maxTtlMs: number
  readonly #now: () => number
  readonly #db: Db
  readonly #get: Statement
  readonly #upsert: Statement
  readonly #update: Statement
  readonly #delete: Statement

  constructor(db: Db, opts: DidCacheOptions = {}) {
    this.staleTtlMs = opts.staleTtlMs ?? DID_CACHE_STALE_TTL_MS
    this.maxTtlMs = opts.maxTtlMs ?? DID_CACHE_MAX_TTL_MS
    this.#now = opts.now ?? Date.now
    this.#db = db
    migrate(db, MIGRATIONS)
    this.#get = db.prepare(`SELECT "doc", "updatedAt" FROM "did_doc" WHERE "did" = ?`)
    this.#upsert = db.prepare(
      `INSERT INTO "did_doc" ("did", "doc", "updatedAt") VALUES (?, ?, ?)
       ON CONFLICT ("did") DO UPDATE SET "doc" = excluded."doc", "updatedAt" = excluded."updatedAt"`,
    )
    this.#update = db.prepare(`UPDATE "did_doc" SET "doc" = ?, "updatedAt" = ? WHERE "did" = ? AND "updatedAt" = ?`)
    this.#delete = db.prepare(`DELETE FROM "did_doc" WHERE "did" = ?`)
  }

  /** Opens (creating and migrating) the cache file; the official PDS opens it with synchronous=NORMAL. */
  static open(path: string, opts: DidCacheOptions = {}): DidCache {
    return new DidCache(openDb(path, { synchronous: 'NORMAL' }), opts)
  }

  check(did: string): CacheResult | null {
    try {
      const row = this.#get.get(did) as { doc: string; updatedAt: number | bigint } | undefined
      if (!row) return null
      const updatedAt = Number(row.updatedAt)
      const now = this.#now()
      return {
        did,
        doc: JSON.parse(row.doc) as DidDocument,
        updatedAt,
        stale: now > updatedAt + this.staleTtlMs,
        expired: now > updatedAt + this.maxTtlMs,
      }
    } catch {
      // An unreadable entry is a miss: the document is resolved again and the entry rewritten.
      return null
    }
  }

  /**
   * Stores a document. With `prev` (the entry the resolution started from) the write only
   * replaces that very entry, so an invalidation or a newer write in the meantime wins.
   */
  put(did: string, doc: DidDocument, prev?: CacheResult): void {
    const json = JSON.stringify(doc)
    if (prev) this.#update.run(json, this.#now(), did, prev.updatedAt)
    else this.#upsert.run(did, json, this.#now())
  }

  clear(did: string): void {
    this.#delete.run(did)
  }

  clearAll(): void {
    this.#db.exec(`DELETE FROM "did_doc"`)
  }

  close(): void {
    this.#db.close()
  }
}
