// Shared by the migration tests.
import { join } from 'node:path'
import { decodeCbor } from '../../src/repo/cbor.ts'
import { openDb } from '../../src/storage/sqlite.ts'

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

/** A valid 1×1 PNG, made distinct per `n` by bytes after its end (still sniffed as image/png). */
export function pngBytes(n: number): Uint8Array {
  const png = Buffer.from(PNG_1X1, 'base64')
  return new Uint8Array(Buffer.concat([png, Buffer.from(`hearth-${n}`)]))
}

/** An emailed token ("plc_operation", "delete_account"…) read from a PDS's account.sqlite (same table on both). */
export function emailToken(dataDir: string, did: string, purpose: string): string {
  const db = openDb(join(dataDir, 'account.sqlite'), { readonly: true })
  try {
    const row = db.prepare(`SELECT "token" FROM "email_token" WHERE "did" = ? AND "purpose" = ?`).get(did, purpose) as
      | { token: string }
      | undefined
    if (!row) throw new Error(`no ${purpose} token was issued for ${did}`)
    return row.token
  } finally {
    db.close()
  }
}

export interface SeqEventView {
  seq: number
  /** The firehose frame type: #commit, #sync, #identity or #account. */
  type: string
  body: Record<string, any>
}

const FRAME_TYPE: Record<string, string> = { append: '#commit', sync: '#sync', identity: '#identity', account: '#account' }

/**
 * The events a PDS sequenced for `did`, in order, read from its sequencer.sqlite (read-only; the
 * table and encoding are the same in Hearth and the official).
 */
export function sequencedEvents(sequencerDbPath: string, did: string): SeqEventView[] {
  const db = openDb(sequencerDbPath, { readonly: true })
  try {
    const rows = db
      .prepare(`SELECT "seq", "eventType", "event" FROM "repo_seq" WHERE "did" = ? AND "invalidated" = 0 ORDER BY "seq" ASC`)
      .all(did) as Array<{ seq: number; eventType: string; event: Uint8Array }>
    return rows.map((r) => ({ seq: r.seq, type: FRAME_TYPE[r.eventType] ?? r.eventType, body: decodeCbor(r.event) as Record<string, any> }))
  } finally {
    db.close()
  }
}
