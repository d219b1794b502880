// The per-account store.sqlite, with the official PDS's schema (its single migration `001`) so
// either server opens the other's actor stores. Hearth adds an index for listing records by
// collection in rkey order, and an outbox that keeps the store and the event log in step.
import { type Db, type MigrationSet, migrate, openDb } from '../storage/sqlite.ts'
import { FNV1A_START, fnv1a } from './fnv1a.ts'

export const actorMigrations: MigrationSet = {
  official: [
    {
      name: '001',
      up(db) {
        db.exec(`
          CREATE TABLE "repo_root" ("did" varchar primary key, "cid" varchar not null, "rev" varchar not null, "indexedAt" varchar not null);
          CREATE TABLE "repo_block" ("cid" varchar primary key, "repoRev" varchar not null, "size" integer not null, "content" blob not null);
          CREATE INDEX "repo_block_repo_rev_idx" ON "repo_block" ("repoRev", "cid");
          CREATE TABLE "record" ("uri" varchar primary key, "cid" varchar not null, "collection" varchar not null, "rkey" varchar not null, "repoRev" varchar not null, "indexedAt" varchar not null, "takedownRef" varchar);
          CREATE INDEX "record_cid_idx" ON "record" ("cid");
          CREATE INDEX "record_collection_idx" ON "record" ("collection");
          CREATE INDEX "record_repo_rev_idx" ON "record" ("repoRev");
          CREATE TABLE "blob" ("cid" varchar primary key, "mimeType" varchar not null, "size" integer not null, "tempKey" varchar, "width" integer, "height" integer, "createdAt" varchar not null, "takedownRef" varchar);
          CREATE INDEX "blob_tempkey_idx" ON "blob" ("tempKey");
          CREATE TABLE "record_blob" ("blobCid" varchar not null, "recordUri" varchar not null, constraint "record_blob_pkey" primary key ("blobCid", "recordUri"));
          CREATE TABLE "backlink" ("uri" varchar not null, "path" varchar not null, "linkTo" varchar not null, constraint "backlinks_pkey" primary key ("uri", "path"));
          CREATE INDEX "backlink_link_to_idx" ON "backlink" ("path", "linkTo");
          CREATE TABLE "account_pref" ("id" integer primary key autoincrement, "name" varchar not null, "valueJson" text not null);
        `)
      },
    },
  ],
  hearth: [
    {
      name: 'hearth-001-record-collection-rkey',
      up(db) {
        db.exec(`CREATE INDEX IF NOT EXISTS "hearth_record_collection_rkey_idx" ON "record" ("collection", "rkey")`)
      },
    },
    {
      // Firehose events written in the same transaction as the commit they describe: if the
      // process stops between that transaction and the sequencer's, the next open of the store
      // sequences whatever the log lacks (see ActorStore.pendingEvents).
      name: 'hearth-002-outbox',
      up(db) {
        db.exec(`CREATE TABLE IF NOT EXISTS "hearth_outbox" ("rev" varchar primary key, "eventType" varchar not null, "event" blob not null)`)
      },
    },
    {
      name: 'hearth-003-record-blob-record-idx',
      up(db) {
        db.exec(`CREATE INDEX IF NOT EXISTS "hearth_record_blob_uri_idx" ON "record_blob" ("recordUri")`)
      },
    },
  ],
}

/**
 * The migration names as one number, kept in the store's `user_version` once they have all run:
 * a store opened again reads one header field instead of checking the tracking tables in a write
 * transaction (most of the cost of opening a store). Kysely ignores `user_version`, so the
 * official PDS is unaffected; any new migration changes the number, so the check runs again.
 */
export const ACTOR_SCHEMA_STAMP = schemaStamp(actorMigrations)

function schemaStamp(set: MigrationSet): number {
  let h = FNV1A_START
  // Each name followed by a comma, so that no two lists of names run together into one text.
  for (const name of [...set.official.map((m) => `o:${m.name}`), ...(set.hearth ?? []).map((m) => `h:${m.name}`)]) h = fnv1a(`${name},`, h)
  // Positive and non-zero: 0 is every new database's user_version.
  return (h >>> 1) || 1
}

/** Whether the store's schema is the one this version writes (no migration to run). */
export function actorDbCurrent(db: Db): boolean {
  return db.pragma('user_version', { simple: true }) === ACTOR_SCHEMA_STAMP
}

export function migrateActorDb(db: Db): void {
  if (actorDbCurrent(db)) return
  migrate(db, actorMigrations)
  db.pragma(`user_version = ${ACTOR_SCHEMA_STAMP}`)
}

let emptyStore: Uint8Array | null = null

/**
 * The bytes of a new, empty store: the schema migrated (the official's tables and rows in
 * kysely_migration, Hearth's in hearth_migration, the stamp) in memory once per process, marked
 * as a WAL database (file format versions 2 at offsets 18 and 19, as `journal_mode=WAL` leaves
 * them). A new account's store is this file written as it is: migrating each one instead put
 * ~130 KB of schema pages in its WAL, which every later open of the store read back and
 * checksummed until the WAL was emptied, and cost the account's creation ~5 ms of CPU.
 */
export function emptyActorDbBytes(): Uint8Array {
  if (!emptyStore) {
    const db = openDb(':memory:')
    try {
      migrateActorDb(db)
      const bytes = new Uint8Array(db.serialize())
      bytes[18] = 2
      bytes[19] = 2
      emptyStore = bytes
    } finally {
      db.close()
    }
  }
  return emptyStore
}
