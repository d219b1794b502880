// Preloaded (node --require) into the Hearth process by bench/server/memory.ts (and
// test/cli/startup-memory.test.ts): on SIGUSR2 writes process.memoryUsage() and V8 heap figures
// to $HMEM_OUT, and whether @atproto/lexicon has been loaded.
// With $HMEM_PACKAGES (comma-separated package names) set, also which of them have been loaded,
// by import or require alike: whether a heap snapshot names a file of theirs (a module's script
// keeps its path). The path searched for is put together in a Buffer, off the heap, so that the
// probe's own strings do not match it.
const fs = require('node:fs'); const v8 = require('node:v8')
function packagesLoaded() {
  const names = (process.env.HMEM_PACKAGES ?? '').split(',').filter(Boolean)
  if (names.length === 0) return undefined
  const file = `${process.env.HMEM_OUT}.heapsnapshot`
  v8.writeHeapSnapshot(file)
  const snapshot = fs.readFileSync(file); fs.rmSync(file, { force: true })
  return Object.fromEntries(names.map((name) => [name, snapshot.includes(Buffer.concat([Buffer.from('/node_modules/'), Buffer.from(name), Buffer.from('/')]))]))
}
process.on('SIGUSR2', () => {
  // With $HMEM_OUT.gc present, a full collection first: what is live, apart from garbage.
  if (fs.existsSync(`${process.env.HMEM_OUT}.gc`)) { v8.setFlagsFromString('--expose-gc'); require('node:vm').runInNewContext('gc')() }
  const m = process.memoryUsage(); const h = v8.getHeapStatistics()
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map(s => [s.space_name, Math.round(s.physical_space_size/1024)]))
  const packages = packagesLoaded()
  fs.writeFileSync(process.env.HMEM_OUT, JSON.stringify({ mem: m, heap: { total: h.total_heap_size, used: h.used_heap_size, physical: h.total_physical_size, malloced: h.malloced_memory, ext: h.external_memory }, spaces, lexiconLoaded: Object.keys(require.cache).some((k) => k.includes('/@atproto/lexicon/')), mods: Object.keys(require.cache).length, packages }))
})
