// Finds, creates, caches and destroys actor stores, in the official PDS's layout:
// <actors dir>/<first two hex chars of sha256(did)>/<did>/{store.sqlite,key}.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeCbor } from '../repo/cbor.ts'
import type { Keypair } from '../repo/crypto/index.ts'
import type { SeqEvent } from '../sequencer/events.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { RepoSnapshot } from './snapshot.ts'
import { ActorStore } from './store.ts'

export interface ActorLocation {
  directory: string
  dbLocation: string
  keyLocation: string
}

export class ActorStoreManager {
  private readonly open = new Map<string, ActorStore>()

  constructor(
    readonly directory: string,
    private readonly sequencer: Sequencer,
    private readonly cacheSize = 100,
  ) {}

  location(did: string): ActorLocation {
    const hash = createHash('sha256').update(did).digest('hex')
    const directory = join(this.directory, hash.slice(0, 2), did)
    return { directory, dbLocation: join(directory, 'store.sqlite'), keyLocation: join(directory, 'key') }
  }

  /** A read-only snapshot of an account's store on its own connection, for a streamed export. */
  snapshot(did: string): RepoSnapshot {
    return new RepoSnapshot(this.location(did).dbLocation, did)
  }

  exists(did: string): boolean {
    return this.open.has(did) || existsSync(this.location(did).dbLocation)
  }

  /** The store of an existing account (null when it has none). */
  get(did: string): ActorStore | null {
    const hit = this.open.get(did)
    if (hit) {
      // Refresh its place in the LRU order.
      this.open.delete(did)
      this.open.set(did, hit)
      return hit
    }
    const loc = this.location(did)
    if (!existsSync(loc.dbLocation)) return null
    return this.remember(did, new ActorStore(did, loc.dbLocation, loc.keyLocation))
  }

  /** Creates the store and key file of a new account. */
  create(did: string, keypair: Keypair): ActorStore {
    const loc = this.location(did)
    if (existsSync(loc.dbLocation)) throw new Error(`actor store already exists for ${did}`)
    mkdirSync(loc.directory, { recursive: true, mode: 0o700 })
    // The raw 32-byte key, as the official PDS keeps it.
    writeFileSync(loc.keyLocation, keypair.export(), { mode: 0o600 })
    return this.remember(did, new ActorStore(did, loc.dbLocation, loc.keyLocation))
  }

  destroy(did: string): void {
    const store = this.open.get(did)
    if (store) {
      store.close()
      this.open.delete(did)
    }
    rmSync(this.location(did).directory, { recursive: true, force: true })
  }

  closeAll(): void {
    for (const store of this.open.values()) store.close()
    this.open.clear()
  }

  private remember(did: string, store: ActorStore): ActorStore {
    this.recover(store)
    this.open.set(did, store)
    while (this.open.size > this.cacheSize) {
      const [oldest, s] = this.open.entries().next().value as [string, ActorStore]
      s.close()
      this.open.delete(oldest)
    }
    return store
  }

  /**
   * Sequences outbox events the log lacks: a commit whose transaction landed but whose event
   * append did not (the process stopped in between). Runs before the store is used again, so
   * the account's events keep their order.
   */
  private recover(store: ActorStore): void {
    const pending = store.outbox()
    if (pending.length === 0) return
    const last = this.sequencer.lastOfType(store.did, 'append')
    const lastRev = last ? (decodeCbor(last.event) as { rev?: string }).rev ?? null : null
    const missing: SeqEvent[] = []
    for (const row of pending) {
      if (lastRev === null || row.rev > lastRev) {
        missing.push({ did: store.did, eventType: row.eventType as SeqEvent['eventType'], event: row.event })
      }
    }
    if (missing.length > 0) this.sequencer.append(missing)
    store.sequencedRev = pending[pending.length - 1].rev
  }
}
