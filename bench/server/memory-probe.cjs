// Preloaded (node --require) into the Hearth process by bench/server/memory.ts (and
// test/cli/startup-memory.test.ts): on SIGUSR2 writes process.memoryUsage() and V8 heap figures
// to $HMEM_OUT, and whether @atproto/lexicon has been loaded.
const fs = require('node:fs'); const v8 = require('node:v8')
process.on('SIGUSR2', () => {
  // With $HMEM_OUT.gc present, a full collection first: what is live, apart from garbage.
  if (fs.existsSync(`${process.env.HMEM_OUT}.gc`)) { v8.setFlagsFromString('--expose-gc'); require('node:vm').runInNewContext('gc')() }
  const m = process.memoryUsage(); const h = v8.getHeapStatistics()
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map(s => [s.space_name, Math.round(s.physical_space_size/1024)]))
  fs.writeFileSync(process.env.HMEM_OUT, JSON.stringify({ mem: m, heap: { total: h.total_heap_size, used: h.used_heap_size, physical: h.total_physical_size, malloced: h.malloced_memory, ext: h.external_memory }, spaces, lexiconLoaded: Object.keys(require.cache).some((k) => k.includes('/@atproto/lexicon/')), mods: Object.keys(require.cache).length }))
})
