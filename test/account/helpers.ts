// A temporary account.sqlite with a store over it and a clock the test moves by hand.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openAccountDb } from '../../src/account/db.ts'
import { AccountStore } from '../../src/account/store.ts'
import type { Db } from '../../src/storage/sqlite.ts'

export interface Clock {
  now: () => number
  advance(ms: number): void
  set(ms: number): void
}

export function testClock(start = Date.parse('2026-01-01T00:00:00.000Z')): Clock {
  let t = start
  return {
    now: () => t,
    advance: (ms) => {
      t += ms
    },
    set: (ms) => {
      t = ms
    },
  }
}

export interface TempStore {
  dir: string
  path: string
  db: Db
  store: AccountStore
  clock: Clock
  /** Another connection to the same file, with its own store (same clock). */
  openAnother(): { db: Db; store: AccountStore }
  cleanup(): void
}

export function tempStore(opts: { hostname?: string } = {}): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-account-'))
  const path = join(dir, 'account.sqlite')
  const clock = testClock()
  const db = openAccountDb(path)
  const store = new AccountStore(db, { hostname: opts.hostname ?? 'pds.example.com', now: clock.now })
  const others: Db[] = []
  return {
    dir,
    path,
    db,
    store,
    clock,
    openAnother() {
      const db2 = openAccountDb(path)
      others.push(db2)
      return { db: db2, store: new AccountStore(db2, { hostname: opts.hostname ?? 'pds.example.com', now: clock.now }) }
    },
    cleanup() {
      for (const d of others) d.close()
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
export const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'
export const CAROL = 'did:plc:carolcccccccccccccccccccc'
export const CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'

/** Creates an account with a placeholder password hash (the store never looks inside it). */
export function addAccount(
  store: AccountStore,
  did: string,
  handle: string,
  extra: Partial<Parameters<AccountStore['createAccount']>[0]> = {},
): void {
  store.createAccount({
    did,
    handle,
    email: `${handle.split('.')[0]}@example.com`,
    passwordHash: 'salt:hash',
    repoCid: CID,
    repoRev: '3kaaaaaaaaaa2',
    ...extra,
  })
}
