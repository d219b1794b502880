// A young-generation collection after every few MiB of streamed request bodies (uploads, repo
// imports) and streamed answers (getBlob from an S3 bucket or a larger file, getRepo), run once
// the request that crossed the mark is answered.
//
// A body arrives as the socket's read buffers (up to 64 KiB each): each a small object on V8's
// heap holding its bytes outside the heap, freed only when a collection finds the small object
// dead. V8 counts those outside bytes toward the limit that starts a full (mark-compact)
// collection, while a server taking uploads allocates so little on its heap between them that
// young collections (cheap: they visit only what is still alive) are rare. So the uploads' bytes
// piled up until a full collection every ~12 MiB of bodies once the server had settled, whose
// marking on V8's helper threads cost ~1.5–2 ms of CPU per 1 MiB upload (BENCHMARKS.md,
// "uploadBlob, seventh round"). A streamed answer's chunks are the same kind of buffers (an S3
// object's response relayed as it arrives; a file's 64 KiB reads): a getBlob from S3 spent ~40% of
// its CPU in full collections until they were counted too (BENCHMARKS.md, "getBlob from S3").
// A young collection frees the buffers of the bodies before it
// instead; it runs after the answer (setImmediate), when the last body's buffers are garbage
// too, rather than inside a request that still holds them (that would move them to the old
// generation, where only a full collection frees them).
//
// What those collections free goes back to glibc, which keeps it: the 64 KiB buffers were spread
// among longer-lived allocations, so they leave holes in the middle of the heap that only
// malloc_trim(3) hands back (storage/free-memory.ts). The idle collection does that, but only
// once the whole event loop has been idle for ten seconds, which a server with steady light
// traffic (reads, firehose subscribers) may never be. So once streamed bodies of at least
// BODY_BYTES_PER_RETURN have gone by and then none for QUIET_MS_BEFORE_RETURN (the burst is
// over), the bytes not yet collected are collected and the freed memory is handed back. Measured
// 500 ms after the bench's uploads (48 MiB of bodies): the main heap's RSS 19-31 MB before, 15-17
// after. The call takes about a millisecond for that much; uploads that resume afterwards fault
// the pages they reuse in again (~0.2 ms per MiB, once), at most once per 8 MiB of bodies.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { returnFreedMemory } from '../storage/free-memory.ts'

/** Bytes of streamed bodies between two young collections. */
export const BODY_BYTES_PER_COLLECTION = 4 * 1024 * 1024
/** Bytes of streamed bodies after which a pause hands freed memory back to the system. */
export const BODY_BYTES_PER_RETURN = 8 * 1024 * 1024
/** How long no body may have been streamed before that happens (ms). */
export const QUIET_MS_BEFORE_RETURN = 250
/** Between the last collection and the return: V8 frees a collection's buffers on a helper thread. */
const SWEPT_MS = 20

type Collect = () => void

export interface ReturnOptions {
  /** Bytes of bodies before a pause returns memory; BODY_BYTES_PER_RETURN by default. */
  everyBytes?: number
  /** The pause (ms); QUIET_MS_BEFORE_RETURN by default. */
  quietMs?: number
  /** What returns it: storage/free-memory.ts's returnFreedMemory by default. */
  returnMemory?: () => unknown
  /** The clock the pause is measured on (ms); performance.now by default (tests step their own). */
  now?: () => number
}

export class YoungCollection {
  #pending = 0
  #scheduled = false
  #collect: Collect | null | undefined
  #sinceReturn = 0
  #lastBodyAt = 0
  #returnTimer: NodeJS.Timeout | null = null
  #returns = 0
  #collections = 0
  readonly #returnEvery: number
  readonly #quietMs: number
  readonly #returnMemory: () => unknown
  readonly #now: () => number

  constructor(
    private readonly everyBytes = BODY_BYTES_PER_COLLECTION,
    collect?: Collect | null,
    returns: ReturnOptions = {},
  ) {
    this.#collect = collect
    this.#returnEvery = returns.everyBytes ?? BODY_BYTES_PER_RETURN
    this.#quietMs = returns.quietMs ?? QUIET_MS_BEFORE_RETURN
    this.#returnMemory = returns.returnMemory ?? returnFreedMemory
    this.#now = returns.now ?? (() => performance.now())
  }

  /** Counts a streamed body's bytes; past the mark, schedules one collection. */
  noteBody(bytes: number): void {
    this.#pending += bytes
    this.#sinceReturn += bytes
    if (this.#sinceReturn >= this.#returnEvery) {
      // One timer for the whole burst: each body only moves the time it is measured from.
      this.#lastBodyAt = this.#now()
      if (!this.#returnTimer) this.#armReturn(this.#quietMs)
    }
    if (this.#pending < this.everyBytes || this.#scheduled) return
    const collect = this.#collector()
    if (!collect) {
      this.#pending = 0
      return
    }
    this.#scheduled = true
    setImmediate(() => {
      // The bodies counted until now are what this collection frees.
      this.#pending = 0
      this.#scheduled = false
      this.#collections++
      collect()
    }).unref()
  }

  /** How many collections it has started (after a crossing, or before a return). */
  get collectionCount(): number {
    return this.#collections
  }

  /** How many times a pause after bodies has handed freed memory back. */
  get returnCount(): number {
    return this.#returns
  }

  /** Stops a pending return (the server is closing). */
  stop(): void {
    if (this.#returnTimer) clearTimeout(this.#returnTimer)
    this.#returnTimer = null
  }

  #collector(): Collect | null {
    this.#collect ??= minorCollection()
    return this.#collect
  }

  #armReturn(ms: number): void {
    this.#returnTimer = setTimeout(this.#onQuiet, ms)
    this.#returnTimer.unref()
  }

  readonly #onQuiet = (): void => {
    this.#returnTimer = null
    const quietFor = this.#now() - this.#lastBodyAt
    if (quietFor < this.#quietMs) {
      this.#armReturn(this.#quietMs - quietFor)
      return
    }
    // Bodies since the last collection are garbage by now: collect them first, and return the
    // memory once V8's helper thread has freed their buffers. The next pass is dated so that it
    // finds the pause complete, unless a body came in meanwhile (noteBody moves the date on).
    const collect = this.#pending > 0 && !this.#scheduled ? this.#collector() : null
    if (collect) {
      this.#pending = 0
      this.#collections++
      collect()
      this.#lastBodyAt = this.#now() - this.#quietMs
      this.#armReturn(SWEPT_MS)
      return
    }
    this.#sinceReturn = 0
    this.#returns++
    this.#returnMemory()
  }
}

/**
 * V8's young-generation collection (a scavenge), reached without starting node with --expose-gc:
 * the flag set at run time applies to contexts created afterwards, and a new context hands out
 * its `gc`. Null where the runtime refuses (the collections are then V8's alone, as before).
 */
function minorCollection(): Collect | null {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    if (typeof gc !== 'function') return null
    return () => (gc as (opts: { type: 'minor' }) => void)({ type: 'minor' })
  } catch {
    return null
  }
}
