// Preloaded by `npm start` (through bin/threadpool.cjs): V8's optimizing compiler (TurboFan) and
// its baseline compiler (Sparkplug) stay off while the server starts; `hearth serve` turns them
// back on once it listens and start-up's work is done (src/cli/start-tiers.ts).
//
// Start-up runs a few functions hot (the module loader's path handling and CommonJS source
// scanning, the lexicon set's reference resolution), and V8 compiles them: the compilers' own
// code in node's binary is faulted in and their work areas left in malloc, about 6 MB of resident
// memory that an idle server keeps for its whole life, for functions no request runs. With both
// off until then, start-up takes no more CPU (measured: docs/BENCHMARKS.md, "Memory, fifth
// round"); requests are compiled as before, once they are hot.
//
// An operator's own choice on the command line (--no-opt, --jitless, ...) is left as it is. The
// compilers come back on after 60 s whatever happens, should the entry point not be `hearth serve`.
const { setFlagsFromString } = require('node:v8')

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
const own = (name) => given.some((a) => a === `--${name}` || a === `--no-${name}` || a === '--jitless')
const tiers = ['opt', 'sparkplug'].filter((name) => !own(name) && !own(name === 'opt' ? 'turbofan' : name))
for (const name of tiers) setFlagsFromString(`--no-${name}`)
let restored = false
function restore() {
  if (restored) return
  restored = true
  clearTimeout(fallback)
  for (const name of tiers) setFlagsFromString(`--${name}`)
}
/** Whether the compilers are back on (for tests and the memory probe). */
restore.done = () => restored
const fallback = setTimeout(restore, 60_000)
fallback.unref()
globalThis[Symbol.for('hearth.restoreStartupTiers')] = restore
