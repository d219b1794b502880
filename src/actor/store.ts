// One account's store: its repo blocks, record index, blobs metadata and preferences in
// store.sqlite, its signing key beside it. Reads are plain synchronous queries; the one write
// that changes the repo is `applyCommit`, a single transaction.
import { readFileSync } from 'node:fs'
import type { BlockSource } from '../repo/block-map.ts'
import { decodeCbor } from '../repo/cbor.ts'
import { type Cid, isCid, parseCid, parseStoredCid } from '../repo/cid.ts'
import type { CommitData } from '../repo/commit-builder.ts'
import { Secp256k1Keypair } from '../repo/crypto/index.ts'
import { Mst, NodeCache, NodeStore } from '../repo/mst/index.ts'
import type { SeqEvent } from '../sequencer/events.ts'
import { closeKeepingWal, type Db, forgetPerConnection, immediateTransaction, LIMIT_PARAM, openDb, releasePageCache, WalSyncAhead, WRITE_PATH_WAL_PAGES } from '../storage/sqlite.ts'
import type { Statement } from 'better-sqlite3'
import { BlobIndex } from './blobs.ts'
import { actorDbCurrent, migrateActorDb } from './db.ts'
import { getPreferences, type Preference, type PreferenceAccess, putPreferences } from './preferences.ts'

export interface RepoHeadRow {
  cid: Cid
  rev: string
}

export interface RecordRow {
  uri: string
  cid: Cid
  collection: string
  rkey: string
  repoRev: string
  indexedAt: string
  takedownRef: string | null
  content: Uint8Array
}

/** How a record write changes the index, beside the MST. */
export interface IndexOp {
  action: 'create' | 'update' | 'delete'
  collection: string
  rkey: string
  cid: Cid | null
  /** Backlinks of the new record (follow/block subject, like/repost subject uri). */
  backlinks?: Array<{ path: string; linkTo: string }>
}

/** A record as listRecords answers it: no more than the answer needs. */
export interface ListedRecord {
  uri: string
  /** The CID string as stored. */
  cid: string
  rkey: string
  content: Uint8Array
}

export interface ListRecordsOptions {
  limit: number
  cursor?: string
  reverse?: boolean
  includeTakendown?: boolean
}

/**
 * A record's block (its bytes), as a column of a query over `record r`: a correlated subquery
 * rather than a join, which SQLite 3.54 (Node 22+) would compile again on every run for its
 * bound URI (LIMIT_PARAM; BENCHMARKS.md, "Statements compiled on every run"). NULL when the block
 * is missing: such a record reads as absent, as a join leaves it out.
 */
export const RECORD_BLOCK_COLUMN = '(SELECT "content" FROM repo_block WHERE "cid" = r."cid")'

const ROW_COLUMNS = `r."uri", r."cid", r."collection", r."rkey", r."repoRev", r."indexedAt", r."takedownRef", ${RECORD_BLOCK_COLUMN}`

// A listing reads only what its answer holds (every column read is a string made per row).
const LIST_COLUMNS = 'r."uri", r."cid", b."content"'

// Prepared on first use, per store: most stores serve a few kinds of request, and a store
// opened for one getRecord should not pay for preparing twenty statements.
const SQL = {
  getBlock: 'SELECT "content" FROM repo_block WHERE "cid" = ?',
  head: 'SELECT "cid", "rev" FROM repo_root WHERE "did" = ?',
  putBlock: 'INSERT OR IGNORE INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?)',
  deleteBlock: 'DELETE FROM repo_block WHERE "cid" = ?',
  putRoot: 'INSERT INTO repo_root ("did", "cid", "rev", "indexedAt") VALUES (?, ?, ?, ?) ON CONFLICT ("did") DO UPDATE SET "cid" = excluded."cid", "rev" = excluded."rev", "indexedAt" = excluded."indexedAt"',
  upsertRecord: 'INSERT INTO record ("uri", "cid", "collection", "rkey", "repoRev", "indexedAt") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("uri") DO UPDATE SET "cid" = excluded."cid", "repoRev" = excluded."repoRev", "indexedAt" = excluded."indexedAt"',
  deleteRecord: 'DELETE FROM record WHERE "uri" = ?',
  recordsWithCid: 'SELECT count(*) FROM record WHERE "cid" = ?',
  deleteBacklinks: 'DELETE FROM backlink WHERE "uri" = ?',
  addBacklink: 'INSERT OR IGNORE INTO backlink ("uri", "path", "linkTo") VALUES (?, ?, ?)',
  // `+?` in the joins: SQLite 3.54 would compile them again on every run (LIMIT_PARAM).
  backlinkConflicts: 'SELECT r."rkey" FROM record r JOIN backlink b ON b."uri" = r."uri" WHERE b."path" = +? AND b."linkTo" = +? AND r."collection" = +?',
  getRecord: `SELECT ${ROW_COLUMNS} FROM record r WHERE r."uri" = ?`,
  listDesc: `SELECT ${LIST_COLUMNS} FROM record r JOIN repo_block b ON b."cid" = r."cid" WHERE r."collection" = +? AND r."rkey" < ? AND (? OR r."takedownRef" IS NULL) ORDER BY r."rkey" DESC ${LIMIT_PARAM}`,
  listAsc: `SELECT ${LIST_COLUMNS} FROM record r JOIN repo_block b ON b."cid" = r."cid" WHERE r."collection" = +? AND r."rkey" > ? AND (? OR r."takedownRef" IS NULL) ORDER BY r."rkey" ASC ${LIMIT_PARAM}`,
  // A skip-scan of the collection index, one seek per collection: a DISTINCT read every entry of
  // it (4.4 ms for a repo of 100,000 records against 12 µs, in process; BENCHMARKS.md "describeRepo's collections").
  collections: `WITH RECURSIVE c("name") AS (
      SELECT min("collection") FROM record
      UNION ALL SELECT (SELECT min("collection") FROM record WHERE "collection" > c."name") FROM c WHERE c."name" IS NOT NULL
    ) SELECT "name" FROM c WHERE "name" IS NOT NULL`,
  countRecords: 'SELECT count(*) FROM record',
  countBlocks: 'SELECT count(*) FROM repo_block',
  putOutbox: 'INSERT OR REPLACE INTO hearth_outbox ("rev", "eventType", "event") VALUES (?, ?, ?)',
  clearOutbox: 'DELETE FROM hearth_outbox WHERE "rev" <= ?',
  outbox: 'SELECT "rev", "eventType", "event" FROM hearth_outbox ORDER BY "rev" ASC',
} as const

/** Statements whose single column is returned bare. */
const PLUCK = new Set<keyof typeof SQL>(['getBlock', 'recordsWithCid', 'backlinkConflicts', 'collections', 'countRecords', 'countBlocks'])

/**
 * Statements read as arrays (ROW_COLUMNS order): better-sqlite3 builds a row object per row in
 * native code, slower than the literal toRecordRow makes (a quarter of listRecords' query time).
 */
const RAW = new Set<keyof typeof SQL>(['getRecord', 'listDesc', 'listAsc'])

type Statements = { readonly [K in keyof typeof SQL]: Statement }

const SQL_KEYS = Object.keys(SQL) as Array<keyof typeof SQL>

/**
 * A store's statements, each prepared on its first read, then held. Every instance has one hidden
 * class from its construction on: the getters are the prototype's (one set for all stores) and
 * the statements sit in an array. An object of accessors of its own (a closure each) that turned
 * into data properties as statements were first used, as this was before, changed class at each
 * first use and ended with a class set by the order of its first uses: one per store, for the
 * same lookups in the commit's code; and ~2 KB more heap per open store (BENCHMARKS.md).
 */
class LazyStatements {
  readonly held: Array<Statement | undefined> = new Array<Statement | undefined>(SQL_KEYS.length).fill(undefined)
  constructor(readonly db: () => Db) {}

  prepare(i: number): Statement {
    const key = SQL_KEYS[i] as keyof typeof SQL
    const prepared = this.db().prepare(SQL[key])
    if (PLUCK.has(key)) prepared.pluck()
    else if (RAW.has(key)) prepared.raw()
    this.held[i] = prepared
    return prepared
  }
}
for (const [i, key] of SQL_KEYS.entries()) {
  Object.defineProperty(LazyStatements.prototype, key, {
    get(this: LazyStatements): Statement {
      return this.held[i] ?? this.prepare(i)
    },
  })
}

function lazyStatements(db: () => Db): Statements {
  return new LazyStatements(db) as unknown as Statements
}

type RawRecordRow = [string, string, string, string, string, string, string | null, Uint8Array | null]

function toRecordRow(raw: RawRecordRow | undefined): RecordRow | null {
  if (!raw || raw[7] === null) return null
  return {
    uri: raw[0],
    cid: parseStoredCid(raw[1]),
    collection: raw[2],
    rkey: raw[3],
    repoRev: raw[4],
    indexedAt: raw[5],
    takedownRef: raw[6],
    content: raw[7],
  }
}

/** A closed store's WAL is kept up to this size (see closeKeepingWal). */
const KEPT_WAL_BYTES = 256 * 1024

export class ActorStore implements BlockSource {
  /** The one connection, read-only (see readDb) or read-write (`db`): its `readonly` says which. */
  #db: Db | null = null
  /** Closed by close() (an eviction, the idle sweep): the next open is a reopen (onReopen). */
  #closed = false
  #blobs: BlobIndex | null = null
  /** Set once the store is closed for good (the account deleted, the server closed). */
  #retired = false
  /**
   * Called when a store closed by the manager (an eviction, the idle sweep) is used again by
   * someone still holding it: its connection reopens, and the manager takes it back in its count.
   */
  onReopen: (() => void) | null = null
  private readonly nodes: NodeStore
  private cachedTree: Mst | null = null
  private cachedHead: RepoHeadRow | null | undefined = undefined
  private keypairCache: Secp256k1Keypair | null = null
  /** The rev up to which the outbox is known to be sequenced (its rows can go). */
  sequencedRev: string | null = null

  private st: Statements
  #afterRev: Statement | undefined
  #atOrBefore: Statement | undefined

  constructor(
    readonly did: string,
    readonly dbPath: string,
    readonly keyPath: string,
    /**
     * Decoded MST nodes, shared with the other stores (the manager's budget for all of them);
     * without one, a cache of this store's own.
     */
    opts: { nodeCache?: NodeCache } = {},
  ) {
    // The connection opens on first use: read-only for a read, read-write for a write.
    this.st = lazyStatements(() => this.readDb)
    this.walSync = new WalSyncAhead(() => this.#db, `${dbPath}-wal`, 8)
    this.nodes = new NodeStore(this, { cache: opts.nodeCache ?? new NodeCache(2000), validateKeys: false })
  }

  /**
   * The store's read-write connection: the actor layer's own (tests read it to check what was
   * written). A store open read-only trades that connection for a read-write one here. A store
   * the manager closed reopens here when used again, so that a request holding it across an
   * await never finds it closed.
   */
  get db(): Db {
    if (this.#db && !this.#db.readonly) return this.#db
    if (this.#retired) throw new Error(`the actor store of ${this.did} is closed`)
    // The read-only connection closes after the new one has opened: while it holds the
    // database, the new connection finds the WAL index live instead of rebuilding it from the WAL.
    const readOnly = this.#db ? this.#dropConnection() : null
    let db: Db
    try {
      db = openActorDb(this.dbPath)
    } finally {
      readOnly?.close()
    }
    this.#open(db)
    return db
  }

  /**
   * The connection reads go through: whichever is open, else a read-only one. On a host with
   * more accounts than the store cache holds, most stores are opened for a read and closed again
   * by the cache soon after; a read-write connection's close checkpoints or, to keep the WAL
   * files, needs a second connection (closeKeepingWal: ~0.2 ms of CPU), where a read-only one
   * just closes (SQLite never checkpoints or deletes the WAL on a read-only connection's close).
   * A store that needs a migration opens read-write.
   */
  get readDb(): Db {
    if (this.#db) return this.#db
    if (this.#retired) throw new Error(`the actor store of ${this.did} is closed`)
    const ro = openReadOnlyActorDb(this.dbPath)
    if (!ro) return this.db
    this.#open(ro)
    return ro
  }

  #open(db: Db): void {
    this.#db = db
    if (this.#closed) {
      this.#closed = false
      this.onReopen?.()
    }
  }

  /**
   * Forgets the connection and everything prepared on it (statements belong to their
   * connection; a reopened store prepares its own), and returns it for the caller to close.
   */
  #dropConnection(): Db {
    const db = this.#db as Db
    this.#db = null
    this.#forgetStatements()
    return db
  }

  /**
   * Marks the store closed and forgets its connection, statements and cached tree, so that a
   * closed store held by no one costs little until it is collected; a later use reopens it.
   */
  #detach(): void {
    this.#dropConnection()
    this.#closed = true
    this.invalidate()
  }

  /** Lets go of the prepared statements: they are prepared again on next use. */
  #forgetStatements(): void {
    this.#blobs = null
    this.st = lazyStatements(() => this.readDb)
    this.#commitTx = undefined
    this.walSync.forget()
    this.#afterRev = undefined
    this.#atOrBefore = undefined
  }

  /** Whether the connection open now has a commit's statements prepared (it committed, or readyForWrite ran). */
  get readyToWrite(): boolean {
    return this.#commitTx !== undefined
  }

  /**
   * Prepares now, on the read-write connection, what a commit of new records runs (its
   * transaction and statements, ~0.2 ms of CPU on a store's first write), for a store reopened
   * in the background that was being written before the stop.
   */
  readyForWrite(): void {
    const st = this.st
    void [st.putBlock, st.deleteBlock, st.upsertRecord, st.putRoot, st.clearOutbox, st.putOutbox]
    this.#commitTx ??= immediateTransaction(this.db, this.#writeCommit)
  }

  /** Opens the read-write connection now, if it is not open yet (before a write's reads). */
  openForWrite(): this {
    void this.db
    return this
  }

  /** Whether the connection is open now. */
  get isOpen(): boolean {
    return this.#db !== null
  }

  /** The blob and record_blob tables, on this store's connection. */
  get blobs(): BlobIndex {
    return (this.#blobs ??= new BlobIndex(this.db))
  }

  // ---- blocks and the repo head ----

  getBlock(cid: Cid): Uint8Array | undefined {
    return (this.st.getBlock.get(cid.$link) as Uint8Array | undefined) ?? undefined
  }

  head(): RepoHeadRow | null {
    if (this.cachedHead === undefined) {
      const row = this.st.head.get(this.did) as { cid: string; rev: string } | undefined
      this.cachedHead = row ? { cid: parseCid(row.cid), rev: row.rev } : null
    }
    return this.cachedHead
  }

  /**
   * The MST at the current head, kept between writes as its root node alone: the nodes below
   * come from the shared node cache, or from their blocks when the cache has dropped them.
   */
  tree(): Mst {
    if (this.cachedTree) return this.cachedTree
    const head = this.head()
    if (!head) return Mst.create(this.nodes)
    const commitBytes = this.getBlock(head.cid)
    if (!commitBytes) throw new Error(`repo of ${this.did} lacks its commit block ${head.cid.$link}`)
    // Only `data` is needed: avoid a full decode dependency cycle with commit validation.
    const data = commitData(commitBytes)
    this.cachedTree = Mst.load(this.nodes, data)
    return this.cachedTree
  }

  keypair(): Secp256k1Keypair {
    if (!this.keypairCache) this.keypairCache = Secp256k1Keypair.import(new Uint8Array(readFileSync(this.keyPath)))
    return this.keypairCache
  }

  // ---- records ----

  getRecord(collection: string, rkey: string): RecordRow | null {
    return toRecordRow(this.st.getRecord.get(`at://${this.did}/${collection}/${rkey}`) as RawRecordRow | undefined)
  }

  listRecords(collection: string, opts: ListRecordsOptions): ListedRecord[] {
    const incl = opts.includeTakendown ? 1 : 0
    const rows = (
      opts.reverse
        ? this.st.listAsc.all(collection, opts.cursor ?? '', incl, opts.limit)
        : this.st.listDesc.all(collection, opts.cursor ?? '\u{10ffff}', incl, opts.limit)
    ) as Array<[string, string, Uint8Array]>
    const out = new Array<ListedRecord>(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const [uri, cid, content] = rows[i]
      out[i] = { uri, cid, rkey: uri.slice(uri.lastIndexOf('/') + 1), content }
    }
    return out
  }

  /** A record's moderation state by its AT-URI: null when the record is not indexed. */
  getRecordTakedown(uri: string): { cid: string; takedownRef: string | null } | null {
    const row = this.readDb.prepare('SELECT "cid", "takedownRef" FROM record WHERE "uri" = ?').get(uri)
    return (row as { cid: string; takedownRef: string | null } | undefined) ?? null
  }

  /** Sets (a ref) or clears (null) a record's takedown; returns whether the record exists. */
  setRecordTakedown(uri: string, takedownRef: string | null): boolean {
    return this.db.prepare('UPDATE record SET "takedownRef" = ? WHERE "uri" = ?').run(takedownRef, uri).changes > 0
  }

  collections(): string[] {
    return this.st.collections.all() as string[]
  }

  counts(): { records: number; blocks: number } {
    return { records: this.st.countRecords.get() as number, blocks: this.st.countBlocks.get() as number }
  }

  /** Records of `collection` whose backlink `path` points at `linkTo` (duplicate follows, likes…). */
  backlinkConflicts(collection: string, path: string, linkTo: string): string[] {
    return this.st.backlinkConflicts.all(path, linkTo, collection) as string[]
  }

  /**
   * Records written by commits after `rev`, oldest first, with their blocks (read-after-write
   * over the AppView's answers). Prepared on first use: most stores never serve one.
   */
  recordsAfterRev(rev: string, limit: number): Array<{ content: Uint8Array; uri: string; cid: string; indexedAt: string }> {
    this.#afterRev ??= this.readDb.prepare(
      `SELECT b."content", r."uri", r."cid", r."indexedAt" FROM record r JOIN repo_block b ON b."cid" = r."cid" WHERE r."repoRev" > +? ORDER BY r."repoRev" ASC ${LIMIT_PARAM}`,
    )
    return this.#afterRev.all(rev, limit) as Array<{ content: Uint8Array; uri: string; cid: string; indexedAt: string }>
  }

  /** Whether any record was written at or before `rev`. */
  hasRecordsAtOrBefore(rev: string): boolean {
    this.#atOrBefore ??= this.readDb.prepare('SELECT 1 FROM record WHERE "repoRev" <= ? LIMIT 1')
    return this.#atOrBefore.get(rev) !== undefined
  }

  /** The account's preferences in a namespace (`app.bsky`), as the official reads them. */
  getPreferences(namespace: string, access: PreferenceAccess): Preference[] {
    return getPreferences(this.readDb, namespace, access)
  }

  /** Replaces the account's preferences in a namespace, in one transaction. */
  putPreferences(values: readonly Preference[], namespace: string, access: PreferenceAccess): void {
    putPreferences(this.db, values, namespace, access)
  }

  // ---- the write ----

  /**
   * Stores a commit in one transaction: its blocks, the removal of blocks it no longer uses,
   * the record index and backlinks, the new head, the firehose events for the outbox, and any
   * `extra` work the caller needs atomically (blob links). On success the cached tree moves on.
   */
  applyCommit(commit: CommitData, ops: IndexOp[], events: SeqEvent[], extra?: () => void): void {
    this.#commitTx ??= immediateTransaction(this.db, this.#writeCommit)
    this.#commitTx(commit, ops, events, extra)
    this.walSync.committed()
    commit.tree.markStored({ detach: true })
    for (const cid of commit.removedCids) this.nodes.forget(cid)
    this.cachedTree = commit.tree
    this.cachedHead = { cid: commit.cid, rev: commit.rev }
  }

  /** ~32 WAL frames a commit of one record: a look at the WAL's size every 8 commits. (Read by tests.) */
  readonly walSync: WalSyncAhead

  #commitTx: ((commit: CommitData, ops: IndexOp[], events: SeqEvent[], extra?: () => void) => void) | undefined

  readonly #writeCommit = (commit: CommitData, ops: IndexOp[], events: SeqEvent[], extra?: () => void): void => {
    const now = new Date().toISOString()
    const did = this.did
    const st = this.st
    for (const [cid, bytes] of commit.newBlocks) st.putBlock.run(cid.$link, commit.rev, bytes.length, bytes)
    for (const cid of commit.removedCids) st.deleteBlock.run(cid.$link)
    for (const op of ops) {
      const uri = `at://${did}/${op.collection}/${op.rkey}`
      if (op.action === 'delete') {
        st.deleteRecord.run(uri)
        st.deleteBacklinks.run(uri)
        continue
      }
      st.upsertRecord.run(uri, (op.cid as Cid).$link, op.collection, op.rkey, commit.rev, now)
      if (op.action === 'update') st.deleteBacklinks.run(uri)
      if (op.backlinks) for (const b of op.backlinks) st.addBacklink.run(uri, b.path, b.linkTo)
    }
    // A record block may be shared by identical records; drop it only when none is left.
    for (const cid of commit.removedRecordCids) {
      if ((st.recordsWithCid.get(cid.$link) as number) === 0) st.deleteBlock.run(cid.$link)
    }
    st.putRoot.run(did, commit.cid.$link, commit.rev, now)
    if (this.sequencedRev) st.clearOutbox.run(this.sequencedRev)
    for (const e of events) st.putOutbox.run(commit.rev, e.eventType, e.event)
    extra?.()
  }

  /** Outbox events not yet known to be sequenced, oldest first. */
  outbox(): Array<{ rev: string; eventType: string; event: Uint8Array }> {
    return this.st.outbox.all() as Array<{ rev: string; eventType: string; event: Uint8Array }>
  }

  /** Forgets cached state (after an import or a change made through another handle). */
  invalidate(): void {
    this.cachedTree = null
    this.cachedHead = undefined
  }

  /**
   * Frees what the connection holds for speed, for a store left idle while it stays open (the
   * manager's sweep): the database pages it has cached, and its prepared statements (~3 KB of
   * SQLite's memory each, a dozen on a store that has been written; the next use prepares them
   * again, ~0.2 ms for a write's), its own and those other modules keep for the connection
   * (perConnection). False when there was nothing to free or a read is under way.
   */
  releaseMemory(): boolean {
    if (this.#db === null || !releasePageCache(this.#db)) return false
    this.#forgetStatements()
    forgetPerConnection(this.#db)
    return true
  }

  /**
   * Closes a read-only connection (a store only read since it opened), for a store left idle:
   * closing one costs neither a checkpoint nor the connection that keeps the WAL files, and the
   * next use opens it again (~0.5 ms). False, with nothing changed, for a read-write connection,
   * none, or one busy with a read.
   */
  closeIfReadOnly(): boolean {
    const db = this.#db
    if (!db?.open || !db.readonly || db.inTransaction) return false
    try {
      // Refused while a statement of it is being iterated: then it stays as it was.
      db.close()
    } catch {
      return false
    }
    this.#detach()
    return true
  }

  /**
   * Closes the connection, keeping the WAL files for the next open. `retire` closes for good
   * (the account deleted, the server closed); otherwise a later use reopens it (see `db`).
   */
  close(opts: { retire?: boolean } = {}): void {
    if (opts.retire) this.#retired = true
    const db = this.#db
    if (!db) {
      // (A failed open left none.) Whatever opens next is a reopen, counted again by the manager.
      this.#closed = true
      return
    }
    // Outbox rows already in the event log go now rather than at the next commit: the next open
    // then finds the outbox empty and has nothing to compare with the log.
    // Best effort: rows left behind are only compared with the log again.
    if (this.sequencedRev && db.open && !db.readonly) {
      try {
        this.st.clearOutbox.run(this.sequencedRev)
      } catch {
        // e.g. a full disk: closing matters more
      }
    }
    this.#detach()
    if (db.readonly) db.close()
    else closeKeepingWal(db, this.dbPath, KEPT_WAL_BYTES)
  }
}


function openActorDb(path: string): Db {
  const db = openDb(path, { walAutocheckpointPages: WRITE_PATH_WAL_PAGES })
  migrateActorDb(db)
  return db
}

/** A read-only connection, or null where only a read-write one will do (a migration is due). */
function openReadOnlyActorDb(path: string): Db | null {
  let db: Db
  try {
    db = openDb(path, { readonly: true })
  } catch {
    return null // let the read-write open report what is wrong
  }
  if (actorDbCurrent(db)) return db
  db.close()
  return null
}

function commitData(bytes: Uint8Array): Cid {
  const value = decodeCbor(bytes) as { data?: unknown }
  if (!value || !isCid(value.data)) throw new Error('stored commit has no data CID')
  return value.data
}
