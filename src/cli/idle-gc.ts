// The garbage collections `hearth serve` asks for, beside V8's own: one full collection each time
// the server falls idle (below), and one memory-reducing collection once start-up is done
// (`memoryReducingCollection`).
//
// V8 sizes its young generation to the work it sees: start-up and any burst of requests grow it
// to its maximum (two 2 MB semi-spaces under `npm start`), and it keeps those pages until a
// collection finds the allocation rate low. Its own memory reducer does that at some point after
// a burst, but measured on an idle server anywhere from 8 s to never within 45 s; and until V8
// collects, the request buffers a burst left (1 MiB uploads read in 64 KB chunks) stay allocated
// as well. Here a collection runs once an event-loop window of `checkEveryMs` (10 s) has been
// idle after one that was not: after start-up, and after each burst of activity. A server that
// stays idle collects once; one that stays busy never (V8 manages it as it does now). Measured
// on an idle server: ~30 ms of CPU, the young generation from 6.9 to 1.3 MB, RSS 6 MB lower.
// What the collection frees outside V8's heap (the burst's buffers), and what the burst's
// requests freed themselves, is then handed back to the operating system (returnFreedMemory).
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { returnFreedMemory } from '../storage/free-memory.ts'

export interface IdleCollectionOptions {
  /** Length of the window whose event-loop utilization is checked (ms). */
  checkEveryMs?: number
  /** Utilization (0..1) at or below which a window counts as idle. */
  idleUtilization?: number
  /** The collection (a full GC by default); null when the runtime offers none. */
  collect?: (() => void) | null
  /** Run after each collection: gives freed memory back to the system by default. */
  afterCollect?: () => void
  /** Called after each window is checked (tests count windows rather than trust timers). */
  onWindow?: () => void
  /**
   * The share of its time the event loop was busy since the last call (the event loop's own
   * measure by default; tests give a script, since a loaded machine's scheduling moves it).
   */
  windowUtilization?: () => number
}

/** The event loop's utilization since the previous call. */
function eventLoopWindows(): () => number {
  let last = performance.eventLoopUtilization()
  return () => {
    const now = performance.eventLoopUtilization()
    const { utilization } = performance.eventLoopUtilization(now, last)
    last = now
    return utilization
  }
}

/** Starts the watcher (its timer does not keep the process alive); returns its stop. */
export function startIdleCollection(opts: IdleCollectionOptions = {}): () => void {
  const collect = opts.collect === undefined ? fullCollection() : opts.collect
  if (collect === null) return () => {}
  const afterCollect = opts.afterCollect ?? returnFreedMemory
  const every = opts.checkEveryMs ?? 10_000
  const threshold = opts.idleUtilization ?? 0.01
  const windowUtilization = opts.windowUtilization ?? eventLoopWindows()
  // Start-up counts as activity: the first idle window collects.
  let activeSinceCollection = true
  const timer = setInterval(() => {
    if (windowUtilization() > threshold) {
      activeSinceCollection = true
    } else if (activeSinceCollection) {
      activeSinceCollection = false
      collect()
      afterCollect()
      // The collection's own time is not activity: measured, and left out of the next window.
      windowUtilization()
    }
    opts.onWindow?.()
  }, every)
  timer.unref()
  return () => clearInterval(timer)
}

/**
 * V8's full collection, reached without starting node with --expose-gc: the flag set at run time
 * applies to contexts created afterwards, and a new context hands out its `gc`. Null if that
 * fails (a runtime that refuses the flag).
 */
export function fullCollection(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? () => (gc as () => void)() : null
  } catch {
    return null
  }
}

/**
 * V8's memory-reducing collection, the one it runs on a low-memory notification: a full
 * collection that also shrinks the young generation to its minimum whatever the recent
 * allocation rate. `gc()` right after start-up keeps the semi-spaces start-up grew (2 MB each
 * under `npm start`), since start-up's allocation rate is still recent. Reached in process
 * through the inspector protocol's HeapProfiler.collectGarbage, on a session with this process's
 * own inspector agent (no port is opened, no domain enabled). Resolves false where the runtime
 * has no inspector. Not after bursts of requests: measured as a collection ~250 ms after each
 * (and as a full one too), the requests that followed cost more CPU until V8 had compiled their
 * code again (listRecords 0.44-0.52 instead of 0.35 ms in the 1,000 requests after each).
 */
export async function memoryReducingCollection(): Promise<boolean> {
  let inspector: typeof import('node:inspector')
  try {
    inspector = await import('node:inspector')
  } catch {
    return false
  }
  const session = new inspector.Session()
  try {
    session.connect()
    await new Promise<void>((resolve, reject) => {
      session.post('HeapProfiler.collectGarbage', (err) => (err ? reject(err) : resolve()))
    })
    return true
  } catch {
    return false
  } finally {
    session.disconnect()
  }
}
