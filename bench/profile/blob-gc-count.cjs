// Preload for bench/profile/blob-core.ts and blob-gc.ts: keeps every garbage collection of the process (when it
// ended, in ms since the epoch; its kind; its pause in ms; its flags) and writes them as JSON to
// $GC_COUNT_FILE on SIGUSR2, so that a benchmark can count the collections inside a span of
// requests it timed with Date.now().
'use strict'
const { PerformanceObserver, constants, performance } = require('node:perf_hooks')
const { writeFileSync } = require('node:fs')

const file = process.env.GC_COUNT_FILE
if (file) {
  const events = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = e.detail ? e.detail.kind : e.kind
      const name = kind === constants.NODE_PERFORMANCE_GC_MINOR ? 'scavenge' : kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 'mark-compact' : kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL ? 'incremental' : 'other'
      // The flags say why (4: forced, as by gc(); 64: V8's allocation limit reached).
      events.push([performance.timeOrigin + e.startTime + e.duration, name, e.duration, e.detail ? e.detail.flags : e.flags])
    }
  }).observe({ entryTypes: ['gc'] })
  process.on('SIGUSR2', () => writeFileSync(file, JSON.stringify(events)))
}
