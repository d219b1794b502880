// Shared fixtures for the blob tests: a temp folder, an actor store with the official `blob` and
// `record_blob` tables (actor store migration 001 DDL), and a disk blob store inside it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { BlobIndex } from '../../src/actor/blobs.ts'
import { DiskBlobStore } from '../../src/blob/disk-store.ts'
import { type Db, openDb } from '../../src/storage/sqlite.ts'

export const DID = 'did:plc:blobtestaaaaaaaaaaaaaaaa'

export const BLOB_DDL = `
  CREATE TABLE "record" ("uri" varchar primary key, "cid" varchar not null, "collection" varchar not null, "rkey" varchar not null, "repoRev" varchar not null, "indexedAt" varchar not null, "takedownRef" varchar);
  CREATE TABLE "blob" ("cid" varchar primary key, "mimeType" varchar not null, "size" integer not null, "tempKey" varchar, "width" integer, "height" integer, "createdAt" varchar not null, "takedownRef" varchar);
  CREATE INDEX "blob_tempkey_idx" ON "blob" ("tempKey");
  CREATE TABLE "record_blob" ("blobCid" varchar not null, "recordUri" varchar not null, constraint "record_blob_pkey" primary key ("blobCid", "recordUri"));
  CREATE INDEX "hearth_record_blob_uri_idx" ON "record_blob" ("recordUri");
`

export interface Fixture {
  dir: string
  db: Db
  /** The blob tables, as an actor store holds them. */
  blobs: BlobIndex
  store: DiskBlobStore
  close(): void
}

export function fixture(opts: { tempLocation?: string } = {}): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-blob-'))
  const db = openDb(join(dir, 'store.sqlite'))
  db.exec(BLOB_DDL)
  const store = new DiskBlobStore({ location: join(dir, 'blocks'), tempLocation: opts.tempLocation })
  return {
    dir,
    db,
    blobs: new BlobIndex(db),
    store,
    close() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Yields `bytes` in chunks of `size` bytes, as an HTTP body arrives. */
export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, Math.min(i + size, bytes.length))
}

/** Every byte of a stream (a blob read back). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of stream) parts.push(c as Buffer)
  return Buffer.concat(parts)
}
