// What every com.atproto.sync read shares: the account-state gate (the official
// assertRepoAvailability) and a consistent read-only view of a repo for streamed exports.
import type { Statement } from 'better-sqlite3'
import type { AccountRow } from '../../../../account/store.ts'
import type { ActorStore } from '../../../../actor/store.ts'
import type { AuthResult } from '../../../../auth/types.ts'
import type { BlockSource } from '../../../../repo/block-map.ts'
import { type Cid, parseCid } from '../../../../repo/cid.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'
import { type Db, openDb } from '../../../../storage/sqlite.ts'

/** The account itself or the admin may read a repo whatever its state (official isUserOrAdmin). */
export function isUserOrAdmin(auth: AuthResult, did: string): boolean {
  if (auth.kind === 'admin') return true
  return (auth.kind === 'access' || auth.kind === 'service') && auth.did === did
}

/**
 * The account behind `did`, or the official errors: 400 RepoNotFound for an unknown one,
 * RepoTakendown / RepoDeactivated for one others may not read (unless `isAdminOrSelf`).
 */
export function assertRepoAvailability(s: Services, did: string, isAdminOrSelf: boolean): AccountRow {
  const account = s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
  if (!account) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  if (isAdminOrSelf) return account
  if (account.takedownRef) throw invalidRequest(`Repo has been takendown: ${did}`, 'RepoTakendown')
  if (account.deactivatedAt) throw invalidRequest(`Repo has been deactivated: ${did}`, 'RepoDeactivated')
  return account
}

/** The actor store of an available account; an account row without a repo is RepoNotFound too. */
export function availableStore(s: Services, auth: AuthResult, did: string): ActorStore {
  assertRepoAvailability(s, did, isUserOrAdmin(auth, did))
  const store = s.actors.get(did)
  if (!store) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  return store
}

/** A CID from a request parameter; a string the lexicon let through but atproto cannot use is a 400. */
export function paramCid(value: string): Cid {
  try {
    return parseCid(value)
  } catch {
    throw invalidRequest(`Invalid CID: ${value.slice(0, 100)}`)
  }
}

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
