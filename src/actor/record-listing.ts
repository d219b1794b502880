// getRecord's answer, as JSON text, from one read of the record and its block with only the
// columns the answer holds (no row object, no CID parsed: the stored string is what is sent).
//
// listRecords' answer, as JSON text: the listing is an index read of URIs and CIDs, and each
// record's JSON object (URI, CID and value) comes from a small process-wide cache, or else from
// its block, written straight from CBOR to JSON. An entry is found by a number (the store's, from
// its file's path, and the row's rowid) and holds the row's URI and CID, which must equal the
// row's now: a CID names its bytes, so an entry can never be stale, and a number that names
// another row (a rowid reused, two stores' paths giving one number) only misses. Not a map keyed
// by the URI and CID themselves: hashing those ~130 characters, new strings on every listing,
// was 8% of a listing's CPU (BENCHMARKS.md, "listRecords' cache keys, fourteenth round"). A
// listing served from the cache skips the block lookup (two B-tree searches per record) and the
// conversion; a listing of records not in it costs what it did with a join.
import type { Statement } from 'better-sqlite3'
import { JsonOut, writeRecordJson } from '../repo/cbor-json.ts'
import { type Db, LIMIT_PARAM, perConnection } from '../storage/sqlite.ts'
import { fnv1a } from './fnv1a.ts'
import { type ListRecordsOptions, RECORD_BLOCK_COLUMN } from './store.ts'

/**
 * Listed records' JSON by number, each entry with the row it was made from (`rowid uri cid`, the
 * listing query's row as it comes): each record's whole object, `{"uri":…,"cid":…,"value":…}`,
 * copied into a listing as it is. Kept up to a byte budget, oldest first out. The URI is in the
 * row because the same bytes (one CID) may be a record at another URI, whose listing must not
 * get this one's.
 */
export class RecordJsonCache {
  readonly #entries = new Map<number, { row: string; json: Buffer }>()
  #bytes = 0

  constructor(readonly maxBytes: number) {}

  /** The JSON made from `row` under `id`; undefined when there is none, or it is another row's. */
  get(id: number, row: string): Buffer | undefined {
    const entry = this.#entries.get(id)
    return entry !== undefined && entry.row === row ? entry.json : undefined
  }

  /** Keeps `json` as made from `row` under `id`, in place of what `id` held. */
  set(id: number, row: string, json: Buffer): void {
    // A record larger than a sixteenth of the budget would push out too many others.
    if (json.length > this.maxBytes / 16) return
    const held = this.#entries.get(id)
    if (held !== undefined) {
      this.#entries.delete(id)
      this.#bytes -= entrySize(held.row, held.json)
    }
    this.#entries.set(id, { row, json })
    this.#bytes += entrySize(row, json)
    for (const [oldest, value] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break
      this.#entries.delete(oldest)
      this.#bytes -= entrySize(value.row, value.json)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  get bytes(): number {
    return this.#bytes
  }
}

// The text, its row (the rowid, URI and CID) and the bookkeeping.
function entrySize(row: string, json: Buffer): number {
  return json.length + row.length + 128
}

/**
 * An entry's number: the store's number above, the row's rowid below, within 2^52 (a safe
 * integer). Rowids past ROWID_SPAN share numbers with another store's: such rows only miss more.
 */
const ROWID_SPAN = 2 ** 26

/**
 * A store's number, from its file's path (FNV-1a, 26 bits): the same for every connection to it,
 * so that its entries outlive a reopened connection (an eviction, the idle sweep's release).
 */
function storeNumber(path: string): number {
  return (fnv1a(path) >>> 0) % ROWID_SPAN
}

/**
 * 4 MB: some 9,000 posts (about 450 bytes each with their URI, CID and bookkeeping), the records
 * a few busy accounts are listed for.
 */
export const recordJsonCache = new RecordJsonCache(4 * 1024 * 1024)

interface ListingStatements {
  desc: Statement
  asc: Statement
  content: Statement
  /** The store's part of the cache's numbers (storeNumber times ROWID_SPAN). */
  idBase: number
}

// Per connection (a store's connection can be replaced), prepared on a connection's first listing.
const statementsFor = perConnection((db): ListingStatements => {
  // The record index alone, in rkey order; a row whose block is missing is left out, as the
  // join it replaces left it out. Each row is `rowid uri cid` in one string: better-sqlite3
  // builds an array and a value per column for a row of several, and one string for a plucked
  // one (100 records: ~15-30 µs less in process, BENCHMARKS.md "Reads, fifth round").
  // `+?` for the collection: SQLite 3.54 would compile the statement again on every run (LIMIT_PARAM).
  const where = `"collection" = +? AND (? OR "takedownRef" IS NULL)`
  const row = `"rowid" || ' ' || "uri" || ' ' || "cid"`
  return {
    desc: db.prepare(`SELECT ${row} FROM record WHERE ${where} AND "rkey" < ? ORDER BY "rkey" DESC ${LIMIT_PARAM}`).pluck(),
    asc: db.prepare(`SELECT ${row} FROM record WHERE ${where} AND "rkey" > ? ORDER BY "rkey" ASC ${LIMIT_PARAM}`).pluck(),
    content: db.prepare('SELECT "content" FROM repo_block WHERE "cid" = ?').pluck(),
    idBase: storeNumber(db.name) * ROWID_SPAN,
  }
})

/** The listRecords output `{ records: [{ uri, cid, value }], cursor }` as UTF-8 JSON text. */
export function listRecordsJson(
  db: Db,
  collection: string,
  opts: ListRecordsOptions,
  cache: RecordJsonCache = recordJsonCache,
): Buffer {
  const st = statementsFor(db)
  const incl = opts.includeTakendown ? 1 : 0
  const rows = (
    opts.reverse
      ? st.asc.all(collection, incl, opts.cursor ?? '', opts.limit)
      : st.desc.all(collection, incl, opts.cursor ?? '\u{10ffff}', opts.limit)
  ) as string[]
  const out = new JsonOut(64 + rows.length * 400)
  out.raw('{"records":[')
  let first = true
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as string
    // The rowid's digits, up to the first space (neither a URI nor a CID holds a space).
    const sep = row.indexOf(' ')
    let rowid = 0
    for (let j = 0; j < sep; j++) rowid = rowid * 10 + row.charCodeAt(j) - 48
    const id = st.idBase + (rowid % ROWID_SPAN)
    let json = cache.get(id, row)
    if (json === undefined) {
      const space = row.lastIndexOf(' ')
      const uri = row.slice(sep + 1, space)
      const cid = row.slice(space + 1)
      const content = st.content.get(cid) as Uint8Array | undefined
      if (content === undefined) continue
      const one = new JsonOut(content.length * 2 + uri.length + cid.length + 32)
      one.raw('{"uri":')
      one.string(uri)
      one.raw(',"cid":')
      one.string(cid)
      one.raw(',"value":')
      writeRecordJson(content, one)
      one.raw('}')
      // A copy of just the text: the cache must not hold the rest of a larger buffer.
      json = Buffer.from(one.bytes())
      cache.set(id, row, json)
    }
    if (!first) out.raw(',')
    first = false
    out.reserve(json.length)
    json.copy(out.buf, out.pos)
    out.pos += json.length
  }
  out.raw(']')
  // The cursor is the last rkey read (a row whose block is missing is passed over, not read again).
  if (rows.length > 0) {
    const last = rows[rows.length - 1] as string
    const lastUri = last.slice(last.indexOf(' ') + 1, last.lastIndexOf(' '))
    out.raw(',"cursor":')
    out.string(lastUri.slice(lastUri.lastIndexOf('/') + 1))
  }
  out.raw('}')
  return out.bytes()
}

// Per connection, as the listing's.
const recordStatement = perConnection((db) => db.prepare(`SELECT r."cid", r."takedownRef", ${RECORD_BLOCK_COLUMN} FROM record r WHERE r."uri" = ?`).raw())

/**
 * getRecord's answer `{ uri, cid, value }` as UTF-8 JSON text, or null when the store has no
 * record at `uri`, it is taken down, or `cid` is given and is not the record's.
 */
export function recordJson(db: Db, uri: string, cid: string | undefined): Buffer | null {
  const row = recordStatement(db).get(uri) as [string, string | null, Uint8Array | null] | undefined
  if (row === undefined || row[1] !== null || (cid !== undefined && row[0] !== cid)) return null
  const content = row[2]
  if (content === null) return null
  const out = new JsonOut(uri.length + content.length * 2 + 128)
  out.raw('{"uri":')
  out.string(uri)
  out.raw(',"cid":')
  out.string(row[0])
  out.raw(',"value":')
  writeRecordJson(content, out)
  out.raw('}')
  return out.bytes()
}
