// Finds, creates, caches and destroys actor stores, in the official PDS's layout:
// <actors dir>/<first two hex chars of sha256(did)>/<did>/{store.sqlite,key}.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_MST_NODE_CACHE } from '../config/memory.ts'
import { decodeCbor } from '../repo/cbor.ts'
import { NodeCache } from '../repo/mst/index.ts'
import type { Keypair } from '../repo/crypto/index.ts'
import type { SeqEvent } from '../sequencer/events.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { returnFreedMemory } from '../storage/free-memory.ts'
import { emptyActorDbBytes } from './db.ts'
import { RepoSnapshot } from './snapshot.ts'
import { ActorStore } from './store.ts'

export interface ActorLocation {
  directory: string
  dbLocation: string
  keyLocation: string
}

/** How long a store may stay open unused before the idle sweep closes it. */
const IDLE_CLOSE_MS = 10 * 60_000

/**
 * How long a store may stay open unused before the idle sweep frees what its connection holds for
 * speed (the pages it cached, up to 1 MiB, and its prepared statements; ActorStore.releaseMemory):
 * a host keeps thousands of stores open, and most of them at any time are accounts that made one
 * request a while ago. Their next read fetches its pages again from the operating system's cache
 * (a few microseconds a page). A store only read since it opened is closed instead
 * (ActorStore.closeIfReadOnly): a read-only connection closes without a checkpoint, and reopens
 * for ~0.5 ms, so it need not hold memory and three descriptors for the idle close's ten minutes.
 */
const IDLE_RELEASE_MS = 60_000

/** How long one turn of the idle sweep may spend freeing stores' caches. */
const RELEASE_SLICE_MS = 2

/**
 * In the actors directory: the stores open at the last clean stop, least recently used first, a
 * DID a line, followed by ` w` for a store that was ready to write (it had committed).
 */
export const OPEN_LIST_FILE = 'hearth-open-stores'
const WRITE_MARK = ' w'

/** A line of the list: its DID, and whether the store was ready to write. */
export function parseListed(line: string): { did: string; written: boolean } {
  const written = line.endsWith(WRITE_MARK)
  return { did: written ? line.slice(0, -WRITE_MARK.length) : line, written }
}

/** A store handed out within this long means requests are arriving: reopening slows down. */
const BUSY_MS = 5

/**
 * How long one turn of the reopening may run: while requests arrive, and while none do. A
 * request arriving during a slice waits at most that long; opening ~0.5 ms a store, a slice
 * opens a few, so a host's stores are warm within a second or two of a start instead of the
 * first requests after it paying each account's open.
 */
const REOPEN_SLICE_MS = { busy: 1, idle: 4 }

/** A DID as the list may hold one: no path separators (the store's folder is named after it). */
const LISTED_DID = /^did:[a-z]+:[A-Za-z0-9._:%-]+$/

export class ActorStoreManager {
  /**
   * Open stores, least recently used first, with when each was last handed out and whether the
   * idle sweep has freed its cache since.
   */
  private readonly open = new Map<string, { store: ActorStore; usedAt: number; released: boolean }>()
  /**
   * Stores closed by the cache that may still be held by a request across an await. There must
   * never be two store objects for one account (each caches the repo head it writes on), so
   * `get` hands such a store back out, and its connection reopens on use.
   */
  private readonly closed = new Map<string, WeakRef<ActorStore>>()
  private trimScheduled = false
  private pruneAt: number
  private sweeper: NodeJS.Timeout | null = null
  /** An idle sweep is under way (it closes one store per turn). */
  private sweeping = false
  /** The sweep closed stores or freed caches since it last gave memory back to the system. */
  private sweptSinceReturn = false
  private memoryReturns = 0
  /** When a store was last handed out (the background reopening yields to requests). */
  private usedAt = 0
  /** Set by reopenRecent: this manager serves, and keeps the list of open stores at its close. */
  private keepsOpenList = false
  private reopening: { cancel(): void; pending(): string[] } | null = null
  /** Every store's decoded MST nodes, under one budget. */
  readonly nodeCache: NodeCache
  /** How long a store may stay open unused (shorter in tests). */
  private readonly idleCloseMs: number
  /** How long a store may keep its cache unused (shorter in tests). */
  private readonly idleReleaseMs: number

  constructor(
    readonly directory: string,
    private readonly sequencer: Sequencer,
    private readonly cacheSize = 100,
    opts: { idleCloseMs?: number; idleReleaseMs?: number; mstNodeCache?: number } = {},
  ) {
    this.pruneAt = cacheSize
    this.idleCloseMs = opts.idleCloseMs ?? IDLE_CLOSE_MS
    this.idleReleaseMs = opts.idleReleaseMs ?? IDLE_RELEASE_MS
    this.nodeCache = new NodeCache(opts.mstNodeCache ?? DEFAULT_MST_NODE_CACHE)
  }

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

  /** How many stores are open now. */
  get openCount(): number {
    return this.open.size
  }

  /** How many times the idle sweep has handed what it freed back to the system. */
  get memoryReturnCount(): number {
    return this.memoryReturns
  }

  /** How many open stores the idle sweep has freed the caches of, unused since (a walk of them all). */
  get releasedCount(): number {
    let n = 0
    for (const entry of this.open.values()) if (entry.released) n++
    return n
  }

  /**
   * The store of an existing account (null when it has none). `forWrite` opens its read-write
   * connection at once, for a caller about to write: otherwise a store not open yet opens
   * read-only for its first read, and a write would then reopen it.
   */
  get(did: string, opts: { forWrite?: boolean } = {}): ActorStore | null {
    const now = (this.usedAt = performance.now())
    const hit = this.open.get(did)
    if (hit) {
      // Refresh its place in the LRU order.
      this.open.delete(did)
      hit.usedAt = now
      hit.released = false
      this.open.set(did, hit)
      return opts.forWrite ? hit.store.openForWrite() : hit.store
    }
    const held = this.closed.get(did)?.deref()
    // Its connection opens on first use, and onReopen counts it in again (until then it stays
    // listed here, so that every caller gets this one object).
    if (held) return opts.forWrite ? held.openForWrite() : held
    const loc = this.location(did)
    if (!existsSync(loc.dbLocation)) return null
    return this.remember(did, new ActorStore(did, loc.dbLocation, loc.keyLocation, { nodeCache: this.nodeCache }), opts.forWrite ?? false)
  }

  /** Creates the store and key file of a new account. */
  create(did: string, keypair: Keypair): ActorStore {
    const loc = this.location(did)
    if (existsSync(loc.dbLocation)) throw new Error(`actor store already exists for ${did}`)
    mkdirSync(loc.directory, { recursive: true, mode: 0o700 })
    // The raw 32-byte key, as the official PDS keeps it.
    writeFileSync(loc.keyLocation, keypair.export(), { mode: 0o600 })
    writeFileSync(loc.dbLocation, emptyActorDbBytes(), { mode: 0o600, flag: 'wx' })
    return this.remember(did, new ActorStore(did, loc.dbLocation, loc.keyLocation, { nodeCache: this.nodeCache }), true)
  }

  destroy(did: string): void {
    const entry = this.open.get(did)
    if (entry) {
      entry.store.close({ retire: true })
      this.open.delete(did)
    }
    this.closed.get(did)?.deref()?.close({ retire: true })
    this.closed.delete(did)
    rmSync(this.location(did).directory, { recursive: true, force: true })
  }

  closeAll(): void {
    // Stores the reopening had not reached yet stay listed, behind those open now.
    const pending = this.reopening?.pending() ?? []
    this.reopening?.cancel()
    this.reopening = null
    if (this.keepsOpenList) this.saveOpenList(pending)
    for (const { store } of this.open.values()) store.close({ retire: true })
    this.open.clear()
    for (const ref of this.closed.values()) ref.deref()?.close({ retire: true })
    this.closed.clear()
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = null
  }

  /**
   * Reopens, in the background, the stores that were open when the server last stopped cleanly,
   * the most recently used first and no more than the cache holds, so that the accounts a host
   * serves most are warm again soon after a restart (opening a store costs a request ~0.5 ms of
   * CPU). In slices of a few milliseconds, one a turn, shorter while requests are arriving, so a
   * request waits behind one slice at most and the stores are warm before most accounts' first
   * requests come (opening them is work those requests would otherwise each do). Also makes
   * closeAll write the list for the next start.
   */
  reopenRecent(): void {
    this.keepsOpenList = true
    const listPath = join(this.directory, OPEN_LIST_FILE)
    let lines: string[]
    try {
      lines = readFileSync(listPath, 'utf8')
        .split('\n')
        .filter((line) => LISTED_DID.test(parseListed(line).did))
    } catch {
      return
    }
    // Read once: if this process stops uncleanly, the next start has no list rather than this one.
    rmSync(listPath, { force: true })
    lines.reverse()
    let next = 0
    const step = () => {
      const busy = performance.now() - this.usedAt < BUSY_MS
      const sliceEnd = performance.now() + (busy ? REOPEN_SLICE_MS.busy : REOPEN_SLICE_MS.idle)
      while (next < lines.length && this.open.size < this.cacheSize && performance.now() < sliceEnd) {
        const { did, written } = parseListed(lines[next++] as string)
        if (this.open.has(did) || this.closed.get(did)?.deref()) continue
        const loc = this.location(did)
        if (!existsSync(loc.dbLocation)) continue
        try {
          // Read-write, as it was before the stop: its first request may be a write.
          const store = this.remember(did, new ActorStore(did, loc.dbLocation, loc.keyLocation, { nodeCache: this.nodeCache }), true)
          // And what a first write reads before anything else (its repo's root, the signing
          // key: ~0.18 ms of CPU), as a store written before the stop held them.
          store.tree()
          store.keypair()
          // A store that was being written also gets its commit's statements back (~0.2 ms).
          if (written) store.readyForWrite()
        } catch {
          // A store that cannot open now is left to its first request, which reports why.
        }
      }
      if (next >= lines.length || this.open.size >= this.cacheSize) {
        this.reopening = null
        return
      }
      // setImmediate runs after the turn's I/O: requests that arrived during the slice go first.
      // Not unref'd: node stops turning the loop for unref'd immediates alone, so the reopening
      // would stall whenever no request came and then take its turns beside the first ones that
      // did. It ends with the list, or with closeAll.
      waiting = { immediate: setImmediate(step) }
    }
    let waiting: { immediate: NodeJS.Immediate } = { immediate: setImmediate(step) }
    this.reopening = {
      cancel: () => clearImmediate(waiting.immediate),
      // Back in the list's order (least recently used first), marks and all.
      pending: () => lines.slice(next).reverse(),
    }
  }

  /**
   * Writes the open stores, least recently used first, for reopenRecent: after `before` (lines of
   * the list read at start that the reopening had not reached) those open now.
   */
  private saveOpenList(before: string[]): void {
    const listPath = join(this.directory, OPEN_LIST_FILE)
    const listed = new Map<string, string>()
    for (const line of before) {
      const { did } = parseListed(line)
      if (!this.open.has(did)) listed.set(did, line)
    }
    for (const [did, { store }] of this.open) listed.set(did, store.readyToWrite ? did + WRITE_MARK : did)
    const lines = [...listed.values()].slice(-this.cacheSize)
    try {
      if (lines.length === 0) return rmSync(listPath, { force: true })
      mkdirSync(this.directory, { recursive: true, mode: 0o700 })
      writeFileSync(`${listPath}.tmp`, `${lines.join('\n')}\n`, { mode: 0o600 })
      renameSync(`${listPath}.tmp`, listPath)
    } catch {
      // A read-only or full disk: the next start just reopens stores on demand.
    }
  }

  private remember(did: string, store: ActorStore, forWrite: boolean): ActorStore {
    if (forWrite) store.openForWrite()
    this.recover(store)
    store.onReopen = () => {
      this.closed.delete(did)
      this.admit(did, store)
    }
    return this.admit(did, store)
  }

  private admit(did: string, store: ActorStore): ActorStore {
    this.open.set(did, { store, usedAt: performance.now(), released: false })
    // Closing a store checkpoints its WAL: done after the current request's work rather than
    // inside it, so that the request that opened a store does not also pay for closing another.
    if (this.open.size > this.cacheSize && !this.trimScheduled) {
      this.trimScheduled = true
      setImmediate(() => {
        this.trimScheduled = false
        this.closeOldest(this.open.size - this.cacheSize)
      })
    }
    // Stores unused for a while give back their caches, and later close, by a timer, so that an
    // idle host holds little memory and few files.
    this.sweeper ??= setInterval(() => this.sweepIdle(), Math.min(this.idleCloseMs, this.idleReleaseMs) / 4).unref()
    return store
  }

  private closeOldest(count: number): void {
    for (const [did, { store }] of this.open) {
      if (count-- <= 0) break
      this.release(did, store)
    }
    this.pruneClosed()
  }

  private release(did: string, store: ActorStore): void {
    this.open.delete(did)
    store.close()
    this.closed.set(did, new WeakRef(store))
  }

  /**
   * Forgets the closed stores no one holds any more. The whole list is walked only when it has
   * doubled since the last walk: on a host whose cache churns, stores are closed on every request.
   */
  private pruneClosed(): void {
    if (this.closed.size <= this.pruneAt) return
    for (const [did, ref] of this.closed) if (!ref.deref()) this.closed.delete(did)
    this.pruneAt = Math.max(this.cacheSize, this.closed.size * 2)
  }

  /**
   * The idle sweep. Closes the stores not handed out for idleCloseMs (the oldest come first in the
   * map), one per turn of the event loop: closing a store that was written checkpoints it (two
   * syncs, ~10 ms on a busy disk), and a sweep of hundreds in one turn would hold every request
   * meanwhile. Then frees the caches of the stores unused for idleReleaseMs, a slice a turn.
   */
  private sweepIdle(): void {
    if (this.sweeping) return
    const now = performance.now()
    const oldest = this.open.entries().next().value
    if (oldest && oldest[1].usedAt <= now - this.idleCloseMs) {
      this.release(oldest[0], oldest[1].store)
      this.sweptSinceReturn = true
      this.sweepNextTurn()
      return
    }
    if (this.releaseIdleCaches(now)) {
      this.sweepNextTurn()
      return
    }
    // What the closed connections and freed caches held is free memory the allocator would keep
    // for the process's life: given back once the sweep is done, not per store.
    if (this.sweptSinceReturn) {
      this.sweptSinceReturn = false
      returnFreedMemory()
      this.memoryReturns++
    }
    this.pruneClosed()
    if (this.open.size === 0 && this.sweeper) {
      clearInterval(this.sweeper)
      this.sweeper = null
    }
  }

  private sweepNextTurn(): void {
    this.sweeping = true
    setImmediate(() => {
      this.sweeping = false
      this.sweepIdle()
    }).unref()
  }

  /**
   * Frees the caches of the stores unused for idleReleaseMs that still hold one, the oldest first,
   * for up to RELEASE_SLICE_MS; true when the slice ended before the last of them.
   */
  private releaseIdleCaches(now: number): boolean {
    const sliceEnd = performance.now() + RELEASE_SLICE_MS
    for (const [did, entry] of this.open) {
      if (entry.usedAt > now - this.idleReleaseMs) return false
      if (entry.released) continue
      if (entry.store.closeIfReadOnly()) {
        // A store only read since it opened closes now: nothing to checkpoint, and a closed one
        // holds neither memory nor descriptors. (Deleting the current entry keeps the walk going.)
        this.open.delete(did)
        this.closed.set(did, new WeakRef(entry.store))
        this.sweptSinceReturn = true
      } else {
        // A store busy with a read keeps its cache until the next sweep.
        entry.released = entry.store.releaseMemory() || !entry.store.isOpen
        this.sweptSinceReturn ||= entry.released
      }
      if (performance.now() >= sliceEnd) return true
    }
    return false
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
