// The garbage collections `hearth serve` asks for, beside V8's own: one full collection each time
// the server falls idle (below), one memory-reducing collection once start-up is done and one soon
// after each burst of requests (`memoryReducingCollection`, `startBurstCollection`).
//
// V8 sizes its young generation to the work it sees: start-up and any burst of requests grow it
// to its maximum (two 4 MB semi-spaces under `npm start`), and it keeps those pages until a
// collection finds the allocation rate low. Its own memory reducer does that at some point after
// a burst, but measured on an idle server anywhere from 8 s to never within 45 s; and until V8
// collects, the request buffers a burst left (1 MiB uploads read in 64 KB chunks) stay allocated
// as well. Here a collection runs once an event-loop window of `checkEveryMs` (10 s) has been
// idle after one that was not: after start-up, and after each burst of activity. A server that
// stays idle collects once; one that stays busy never (V8 manages it as it does now). Measured
// on an idle server: ~30 ms of CPU, the young generation from 6.9 to 1.3 MB, RSS 6 MB lower.
import type { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export interface IdleCollectionOptions {
  /** Length of the window whose event-loop utilization is checked (ms). */
  checkEveryMs?: number
  /** Utilization (0..1) at or below which a window counts as idle. */
  idleUtilization?: number
  /** The collection (a full GC by default); null when the runtime offers none. */
  collect?: (() => void) | null
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
 * allocation rate. `gc()` right after start-up keeps the semi-spaces start-up grew (4 MB each
 * under `npm start`), since start-up's allocation rate is still recent. Reached in process
 * through the inspector protocol's HeapProfiler.collectGarbage, on a session with this process's
 * own inspector agent (no port is opened, no domain enabled). Resolves false where the runtime
 * has no inspector.
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

export interface BurstCollectionOptions {
  /** How long no request has started, and the event loop has been idle, before collecting (ms). */
  quietMs?: number
  /** Event-loop busy time since the last collection needed for another one (ms). */
  minBusyMs?: number
  /** Utilization (0..1) at or below which a quiet window counts as idle. */
  idleUtilization?: number
  /** The collection (the memory-reducing one by default). */
  collect?: () => unknown
  /** The event loop's busy time so far, in ms (its own measure by default; tests give a script). */
  busyMs?: () => number
}

export interface BurstCollection {
  stop(): void
  /** Whether this watcher has collected since the last request started. */
  collectedSinceLastRequest(): boolean
}

/**
 * One memory-reducing collection soon after each burst of requests: once no request has started
 * for `quietMs` (250 ms) and the event loop was idle since the watcher last looked, provided the loop has been
 * busy for `minBusyMs` (1 s) since the last collection, so that collections (~20-30 ms each)
 * stay under ~3% of the work done. A burst leaves its garbage (the request buffers of uploads,
 * 64 KB each, which V8 frees only on its own schedule) and a young generation grown to its
 * maximum; the idle collection above gives them back only after 10 s of quiet. Timers run only
 * while requests come: an idle server is not woken.
 */
export function startBurstCollection(requests: Pick<EventEmitter, 'on' | 'off'>, opts: BurstCollectionOptions = {}): BurstCollection {
  const quietMs = opts.quietMs ?? 250
  const minBusyMs = opts.minBusyMs ?? 1000
  const threshold = opts.idleUtilization ?? 0.02
  const collect = opts.collect ?? (() => void memoryReducingCollection())
  const busyMs = opts.busyMs ?? (() => performance.eventLoopUtilization().active)
  let lastRequestAt = -Infinity
  let collectedAt = -Infinity
  let busyAtCollection = busyMs()
  let timer: NodeJS.Timeout | null = null
  let windowStart = 0
  let windowBusy = 0
  const arm = (ms: number) => {
    windowStart = performance.now()
    windowBusy = busyMs()
    timer = setTimeout(check, ms)
    timer.unref()
  }
  const check = () => {
    timer = null
    const now = performance.now()
    const busy = busyMs()
    // A request started less than quietMs ago: look again when it is that old.
    const sinceRequest = now - lastRequestAt
    if (sinceRequest < quietMs) return arm(quietMs - sinceRequest)
    // The loop was busy meanwhile (a long response, background work): a full window more.
    if ((busy - windowBusy) / Math.max(1, now - windowStart) > threshold) return arm(quietMs)
    if (busy - busyAtCollection < minBusyMs) return
    collectedAt = now
    collect()
    busyAtCollection = busyMs()
  }
  const onRequest = () => {
    lastRequestAt = performance.now()
    if (timer === null) arm(quietMs)
  }
  requests.on('request', onRequest)
  return {
    stop() {
      requests.off('request', onRequest)
      if (timer !== null) clearTimeout(timer)
      timer = null
    },
    collectedSinceLastRequest: () => collectedAt > lastRequestAt,
  }
}
