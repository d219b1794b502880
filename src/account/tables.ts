// What every module over the account tables shares: the account.sqlite connection, its
// prepared statements, the clock and the hostname. The modules (accounts.ts, invites.ts, …) are
// functions taking it first; store.ts gathers them as the AccountStore the services hold.
//
// Synchronous throughout (better-sqlite3 is): a function that reads then writes does so in one
// IMMEDIATE transaction (writeTx), so checks such as an invite's remaining uses or a refresh
// token's grace period hold against other connections too. Password hashing is async and lives
// in src/auth/password.ts; these tables only keep hashes.
//
// Formats and semantics follow the official PDS's account manager so either server can run on
// the other's file: ISO timestamps, lower-cased emails, `salt:hash` scrypt strings, refresh
// tokens keyed by their JWT id, the 2-hour refresh grace period, 15-minute email tokens.
import type { Statement } from 'better-sqlite3'
import type { Db } from '../storage/sqlite.ts'

export interface AccountStoreOptions {
  /** The PDS hostname, the prefix of generated invite codes. */
  hostname?: string
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
}

export class AccountTables {
  readonly db: Db
  readonly hostname: string | undefined
  /** Milliseconds since the epoch. */
  readonly now: () => number
  readonly #statements = new Map<string, Statement>()

  constructor(db: Db, opts: AccountStoreOptions = {}) {
    this.db = db
    this.hostname = opts.hostname
    this.now = opts.now ?? Date.now
  }

  /** A prepared statement, prepared once per store. */
  q(sql: string): Statement {
    let stmt = this.#statements.get(sql)
    if (!stmt) {
      stmt = this.db.prepare(sql)
      this.#statements.set(sql, stmt)
    }
    return stmt
  }

  nowIso(): string {
    return new Date(this.now()).toISOString()
  }
}

/** `fn` with the tables filled in as its first argument: one method of the store's facade. */
export function on<A extends unknown[], R>(t: AccountTables, fn: (t: AccountTables, ...args: A) => R): (...args: A) => R {
  return (...args) => fn(t, ...args)
}
