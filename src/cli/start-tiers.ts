// Turns V8's compilers back on once `hearth serve` has started: npm start's preload
// (bin/startup-tiers.cjs) keeps them off during start-up, where they compile only start-up's hot
// functions and leave megabytes resident. Without the preload (`node dist/hearth.mjs serve`,
// bin/hearth.js, tests) there is nothing to turn back on.
const RESTORE = Symbol.for('hearth.restoreStartupTiers')

/** Whether the preload had turned the compilers off (they are on again either way). */
export function restoreStartupTiers(): boolean {
  const restore = (globalThis as Record<symbol, unknown>)[RESTORE]
  if (typeof restore !== 'function') return false
  ;(restore as () => void)()
  return true
}
