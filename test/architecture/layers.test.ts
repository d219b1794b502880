// The layer order of src/, kept by a test: every relative import of src/ (type-only and dynamic
// ones included) goes to its own top-level folder or file, or to a layer below it; the entries of
// one layer do not import each other; no files import each other in a circle; and the layer table
// of docs/ARCHITECTURE.md lists the entries in this same order. A new top-level folder or file of
// src/ fails here until it is given its place. The XRPC methods name the services they use.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const src = path.join(root, 'src')

/** From the bottom up. An entry is a top-level folder (`repo/`) or file (`config.ts`) of src/. */
export const LAYERS: Array<{ name: string; entries: string[] }> = [
  { name: 'repo core: pure protocol', entries: ['repo/'] },
  { name: 'vocabulary', entries: ['version.ts', 'logger.ts', 'errors.ts', 'metrics/'] },
  { name: 'settings, lexicons, SQLite', entries: ['config/', 'lexicons.ts', 'storage/'] },
  {
    name: 'stores and clients',
    entries: ['sequencer/', 'account/', 'blob/', 'identity/', 'mail/', 'admin/', 'xrpc/'],
  },
  { name: 'stores built on stores', entries: ['actor/', 'plc/', 'firehose/', 'auth/'] },
  { name: 'the core services, as one type', entries: ['core-services.ts'] },
  { name: 'work across stores', entries: ['actions/'] },
  { name: 'front ends', entries: ['oauth/', 'proxy/', 'http/'] },
  { name: 'composition of the services', entries: ['services.ts'] },
  { name: 'XRPC methods', entries: ['api/'] },
  { name: 'the server', entries: ['server.ts'] },
  { name: 'the command line', entries: ['cli/'] },
]

const rankOf = new Map<string, number>()
LAYERS.forEach((layer, i) => layer.entries.forEach((e) => rankOf.set(e, i)))

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, d.name)
    if (d.isDirectory()) sourceFiles(full, out)
    else if (/\.(ts|mts|js|mjs)$/.test(d.name)) out.push(full)
  }
  return out
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

/** Every file of src/ with the files of src/ it imports (relative paths from src/). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
    const targets: string[] = []
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]
      if (!spec.startsWith('.')) continue
      targets.push(path.relative(src, path.resolve(path.dirname(file), spec)))
    }
    graph.set(path.relative(src, file), targets)
  }
  return graph
}

const entryOf = (file: string): string => (file.includes(path.sep) ? file.split(path.sep)[0] + '/' : file)

test('every top-level entry of src/ has its place in the layer order', () => {
  const entries = readdirSync(src, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name))
  const unplaced = entries.filter((e) => !rankOf.has(e))
  assert.deepEqual(unplaced, [], `give these a layer in test/architecture/layers.test.ts: ${unplaced.join(', ')}`)
  const missing = [...rankOf.keys()].filter((e) => !entries.includes(e))
  assert.deepEqual(missing, [], `the layer order names entries src/ no longer has: ${missing.join(', ')}`)
})

test('every import goes down the layer order, never across a layer or up', () => {
  const wrong: string[] = []
  for (const [file, targets] of importGraph()) {
    const from = entryOf(file)
    for (const target of targets) {
      if (target.startsWith('..')) {
        wrong.push(`${file} -> ${target} (outside src/)`)
        continue
      }
      const to = entryOf(target)
      if (to === from) continue
      const a = rankOf.get(from)
      const b = rankOf.get(to)
      if (a === undefined || b === undefined) continue // reported by the test above
      if (b > a) wrong.push(`${file} -> ${target} (up: ${LAYERS[a].name} -> ${LAYERS[b].name})`)
      else if (b === a) wrong.push(`${file} -> ${target} (across the layer "${LAYERS[a].name}")`)
    }
  }
  assert.deepEqual(wrong, [], `imports against the layer order:\n  ${wrong.join('\n  ')}`)
})

test('no files of src/ import each other in a circle', () => {
  const graph = importGraph()
  // Tarjan's strongly connected components; a component of more than one file is a circle.
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: string[] = []
  const circles: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(scc.sort())
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v)
  assert.deepEqual(circles, [], `import circles:\n  ${circles.map((c) => c.join(' <-> ')).join('\n  ')}`)
})

test("docs/ARCHITECTURE.md's layer table follows the same order", () => {
  const doc = readFileSync(path.join(root, 'docs/ARCHITECTURE.md'), 'utf8')
  const section = doc.slice(doc.indexOf('## Layers'), doc.indexOf('\n## ', doc.indexOf('## Layers') + 1))
  const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| layer') && !l.startsWith('| ---'))
  const listed: string[] = []
  for (const row of rows) {
    const folderCell = row.split('|')[2] ?? ''
    for (const m of folderCell.matchAll(/`src\/([^`]+)`/g)) listed.push(m[1].includes('/') ? m[1].split('/')[0] + '/' : m[1])
  }
  const unknown = listed.filter((e) => !rankOf.has(e))
  assert.deepEqual(unknown, [], `the table names entries the order does not: ${unknown.join(', ')}`)
  const ranks = listed.map((e) => rankOf.get(e)!)
  const outOfOrder = listed.filter((e, i) => i > 0 && ranks[i] < ranks[i - 1])
  assert.deepEqual(outOfOrder, [], `the table lists these below a layer they sit under: ${outOfOrder.join(', ')}`)
  const absent = [...rankOf.keys()].filter((e) => !listed.includes(e))
  assert.deepEqual(absent, [], `the table leaves out: ${absent.join(', ')}`)
})

test('only the actions and the actor store append to the event log', () => {
  const allowed = new Set(['actions/', 'actor/', 'sequencer/'])
  const appenders = [...importGraph().keys()].filter((file) => {
    if (allowed.has(entryOf(file))) return false
    return /\bsequencer\s*\.\s*append\s*\(/.test(readFileSync(path.join(src, file), 'utf8'))
  })
  assert.deepEqual(appenders, [], `these append events outside src/actions/ and src/actor/: ${appenders.join(', ')}`)
})

test('the XRPC methods name the services they use, never the whole Services', () => {
  // method-factory.ts is the one place that speaks of every method: it hands each the whole set.
  const whole = sourceFiles(path.join(src, 'api'))
    .filter((file) => path.basename(file) !== 'method-factory.ts')
    .filter((file) => /\b\w+\??\s*:\s*(?:Core)?Services\b(?!\s*\[)/.test(readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '')))
    .map((file) => path.relative(src, file))
  assert.deepEqual(whole, [], `these take the whole Services instead of a Pick<Services, ...> of what they use: ${whole.join(', ')}`)
})
