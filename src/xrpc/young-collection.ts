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
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Bytes of streamed bodies between two young collections. */
export const BODY_BYTES_PER_COLLECTION = 4 * 1024 * 1024

type Collect = () => void

export class YoungCollection {
  #pending = 0
  #scheduled = false
  #collect: Collect | null | undefined

  constructor(
    private readonly everyBytes = BODY_BYTES_PER_COLLECTION,
    collect?: Collect | null,
  ) {
    this.#collect = collect
  }

  /** Counts a streamed body's bytes; past the mark, schedules one collection. */
  noteBody(bytes: number): void {
    this.#pending += bytes
    if (this.#pending < this.everyBytes || this.#scheduled) return
    this.#collect ??= minorCollection()
    const collect = this.#collect
    if (!collect) {
      this.#pending = 0
      return
    }
    this.#scheduled = true
    setImmediate(() => {
      // The bodies counted until now are what this collection frees.
      this.#pending = 0
      this.#scheduled = false
      collect()
    }).unref()
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
