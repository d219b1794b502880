// Builds the one-file bundle `npm start` runs: dist/hearth.mjs (every module of src/, with the
// npm packages left as imports), dist/backup-worker.mjs (the thread of a backup started from the
// dashboard) and dist/lexicons.json (the lexicon schemas as plain JSON).
// Running the bundle with plain `node` instead of through tsx saves about 40 MB of resident
// memory and the on-the-fly compilation at start; the JSON schemas save about 20 MB more.
// Takes a fraction of a second, so `npm start` rebuilds every time (npm runs `prestart` first).
//
// Every file is written whole under a temporary name and renamed into place, so that a process
// starting from dist/ while another build runs (two `npm start`s, test files started side by
// side) reads the old file or the new one, never half of one.
import { build } from 'esbuild'
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { SERVER_BUNDLE_OPTIONS } from './bundle-options.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist')
mkdirSync(out, { recursive: true })

/** Writes `path` atomically: a temporary file beside it, then a rename over it. */
function writeWhole(path, contents) {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  try {
    writeFileSync(temp, contents)
    renameSync(temp, path)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}

// Two bundles: the server, and the thread a backup started from the operator dashboard runs in
// (src/admin/backup-runner.ts loads it from beside the bundle). Built in memory, written below.
const result = await build({
  entryPoints: { hearth: join(root, 'src/cli/main.ts'), 'backup-worker': join(root, 'src/admin/backup-worker.ts') },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  ...SERVER_BUNDLE_OPTIONS,
  sourcemap: 'linked',
  write: false,
})

// V8 keeps a module's source text for as long as the module lives (functions are compiled on
// first call, from it), and stores the whole text as UTF-16, twice its size, as soon as one
// character is past Latin-1. esbuild escapes such characters in strings but leaves them in
// comments and tagged templates (a “ or → there): about 1 MB of resident memory for nothing.
// Each is rewritten as a \uXXXX escape (per UTF-16 unit), which a template, a string, a regular
// expression and a comment all read as before.
function ascii(file, text) {
  return text.replace(/[^\x00-\x7f]/g, (unit, at) => {
    // After a backslash the escape would change meaning (`\\u…`); esbuild never leaves one.
    if (text[at - 1] === '\\') throw new Error(`${file}: a non-ASCII character after a backslash at ${at}`)
    return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

// The maps first: a bundle in place always finds the map it names.
const files = [...result.outputFiles].sort((a, b) => Number(a.path.endsWith('.mjs')) - Number(b.path.endsWith('.mjs')))
for (const file of files) {
  writeWhole(file.path, file.path.endsWith('.mjs') ? ascii(basename(file.path), file.text) : file.contents)
}

const apiEntry = createRequire(import.meta.url).resolve('@atproto/api')
const { schemas } = await import(pathToFileURL(join(dirname(apiEntry), 'client', 'lexicons.js')).href)
// One document per line, its `id` first, so that the server indexes the file by lines at start
// and parses a document only when it is asked for (src/lexicons.ts); still one JSON array.
writeWhole(join(out, 'lexicons.json'), `[\n${schemas.map((doc) => JSON.stringify({ id: doc.id, ...doc })).join(',\n')}\n]\n`)
