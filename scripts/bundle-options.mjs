// How the server is bundled (scripts/build.mjs), shared with what must be bundled the same way
// to be measured beside it (bench/profile/write-floor.ts). esbuild options without entry points
// or output.
/** @type {import('esbuild').BuildOptions} */
export const SERVER_BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // V8 keeps the bundle's source for as long as the process lives: without its indentation and
  // comments it is ~0.8 MB instead of ~1.05. Names are kept (no identifier minification), so a
  // stack trace names the same functions; its line:column, in the bundle as before, maps to
  // src/ through the linked source map (`node --enable-source-maps`).
  minifyWhitespace: true,
  logLevel: 'warning',
}
