// Accounts moving in from another PDS through the home page: one row per DID saying which step
// of the move is done, so a move interrupted anywhere (closed browser, restarted server, the old
// PDS down) resumes where it stopped. The browser holding the move is known by a random key in a
// cookie, kept here only as its SHA-256. The old PDS's tokens and the passwords are never
// written here: they live in the mover's memory for as long as the move needs them.
import { createHash } from 'node:crypto'
import type { Db } from '../storage/sqlite.ts'

/** The steps of a move, in order; a row's `step` is the last one finished. */
export const MOVE_IN_STEPS = [
  'started',
  'created',
  'imported',
  'blobs',
  'preferences',
  'code-sent',
  'identity',
  'activated',
  'done',
] as const
export type MoveInStep = (typeof MOVE_IN_STEPS)[number]

/** running: steps under way on the server; code: waiting for the emailed code; stopped: an error or an interruption the user resumes; done. */
export type MoveInState = 'running' | 'code' | 'stopped' | 'done'

export interface MoveInRow {
  did: string
  browserKey: string
  oldPds: string
  handle: string
  email: string
  inviteCode: string | null
  step: MoveInStep
  state: MoveInState
  blobsDone: number
  blobsTotal: number
  error: string | null
  createdAt: string
  updatedAt: string
}

export function browserKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

export class MoveInStore {
  constructor(readonly db: Db) {}

  get(did: string): MoveInRow | null {
    return (this.db.prepare(`SELECT * FROM "hearth_move_in" WHERE "did" = ?`).get(did) as MoveInRow | undefined) ?? null
  }

  /** The move this browser holds (the newest, if it started several). */
  getByBrowser(key: string): MoveInRow | null {
    const row = this.db
      .prepare(`SELECT * FROM "hearth_move_in" WHERE "browserKey" = +? ORDER BY "updatedAt" DESC LIMIT 1`)
      .get(browserKeyHash(key)) as MoveInRow | undefined
    return row ?? null
  }

  /** A new move, or an earlier one for this DID taken over by this browser (its progress kept). */
  start(row: Pick<MoveInRow, 'did' | 'oldPds' | 'handle' | 'email' | 'inviteCode'>, browserKey: string): MoveInRow {
    const now = new Date().toISOString()
    this.db
      .prepare(
        `INSERT INTO "hearth_move_in" ("did", "browserKey", "oldPds", "handle", "email", "inviteCode", "step", "state", "createdAt", "updatedAt")
         VALUES (?, ?, ?, ?, ?, ?, 'started', 'running', ?, ?)
         ON CONFLICT ("did") DO UPDATE SET "browserKey" = excluded."browserKey", "updatedAt" = excluded."updatedAt"`,
      )
      .run(row.did, browserKeyHash(browserKey), row.oldPds, row.handle, row.email, row.inviteCode, now, now)
    return this.get(row.did) as MoveInRow
  }

  update(did: string, change: Partial<Pick<MoveInRow, 'step' | 'state' | 'blobsDone' | 'blobsTotal' | 'error' | 'inviteCode'>>): void {
    const keys = Object.keys(change) as Array<keyof typeof change>
    if (keys.length === 0) return
    const sets = keys.map((k) => `"${k}" = @${k}`).join(', ')
    this.db
      .prepare(`UPDATE "hearth_move_in" SET ${sets}, "updatedAt" = @updatedAt WHERE "did" = @did`)
      .run({ ...change, did, updatedAt: new Date().toISOString() })
  }

  /** Moves that were running when the server stopped: they wait for the user to resume. */
  markInterrupted(): number {
    return this.db
      .prepare(`UPDATE "hearth_move_in" SET "state" = 'stopped', "error" = ? WHERE "state" = 'running'`)
      .run('The server restarted while your move was under way.').changes
  }

  forget(did: string): void {
    this.db.prepare(`DELETE FROM "hearth_move_in" WHERE "did" = ?`).run(did)
  }
}
