// getRecord's answer, as JSON text, from one read of the record and its block with only the
// columns the answer holds (no row object, no CID parsed: the stored string is what is sent).
//
// listRecords' answer, as JSON text: the listing is an index read of URIs and CIDs, and each
// record's JSON object (URI, CID and value) comes from a small process-wide cache keyed by the
// two (a CID names its bytes, so an entry can never be stale), or else from its block, written
// straight from CBOR to JSON. A
// listing served from the cache skips the block lookup (two B-tree searches per record) and the
// conversion; a listing of records not in it costs what it did with a join.
import type { Statement } from 'better-sqlite3'
import { JsonOut, writeRecordJson } from '../repo/cbor-json.ts'
import { type Db, LIMIT_PARAM, perConnection } from '../storage/sqlite.ts'
import { type ListRecordsOptions, RECORD_BLOCK_COLUMN } from './store.ts'

/**
 * Listed records' JSON by `uri cid` (the listing query's row as it comes): each record's whole
 * object, `{"uri":…,"cid":…,"value":…}`, copied into a listing as it is. Kept up to a byte
 * budget, oldest first out. The URI is in the key because the same bytes (one CID) may be a
 * record at another URI, whose listing must not get this one's.
 */
export class RecordJsonCache {
  readonly #entries = new Map<string, Buffer>()
  #bytes = 0

  constructor(readonly maxBytes: number) {}

  get(key: string): Buffer | undefined {
    return this.#entries.get(key)
  }

  set(key: string, json: Buffer): void {
    // A record larger than a sixteenth of the budget would push out too many others.
    if (json.length > this.maxBytes / 16 || this.#entries.has(key)) return
    this.#entries.set(key, json)
    this.#bytes += entrySize(key, json)
    for (const [held, value] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break
      this.#entries.delete(held)
      this.#bytes -= entrySize(held, value)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  get bytes(): number {
    return this.#bytes
  }
}

// The text, its key (the URI and the CID) and the bookkeeping.
function entrySize(key: string, json: Buffer): number {
  return json.length + key.length + 128
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
}

// Per connection (a store's connection can be replaced), prepared on a connection's first listing.
const statementsFor = perConnection((db): ListingStatements => {
  // The record index alone, in rkey order; a row whose block is missing is left out, as the
  // join it replaces left it out. Each row is `uri cid` in one string, the cache's key as it
  // is: better-sqlite3 builds an array and two strings for a row of two columns, and one
  // string for a plucked one (100 records: ~15-30 µs less in process, BENCHMARKS.md "Reads, fifth round").
  // `+?` for the collection: SQLite 3.54 would compile the statement again on every run (LIMIT_PARAM).
  const where = `"collection" = +? AND (? OR "takedownRef" IS NULL)`
  const row = `"uri" || ' ' || "cid"`
  return {
    desc: db.prepare(`SELECT ${row} FROM record WHERE ${where} AND "rkey" < ? ORDER BY "rkey" DESC ${LIMIT_PARAM}`).pluck(),
    asc: db.prepare(`SELECT ${row} FROM record WHERE ${where} AND "rkey" > ? ORDER BY "rkey" ASC ${LIMIT_PARAM}`).pluck(),
    content: db.prepare('SELECT "content" FROM repo_block WHERE "cid" = ?').pluck(),
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
    const key = rows[i]
    let json = cache.get(key)
    if (json === undefined) {
      // Neither a URI nor a CID holds a space.
      const space = key.lastIndexOf(' ')
      const uri = key.slice(0, space)
      const cid = key.slice(space + 1)
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
      cache.set(key, json)
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
    const last = rows[rows.length - 1]
    const lastUri = last.slice(0, last.lastIndexOf(' '))
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
