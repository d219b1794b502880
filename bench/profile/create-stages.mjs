// A createRecord's CPU profile (from `WARM=3600 node --import tsx bench/profile/run.ts create 5000`)
// split two ways: by kind of code (SQLite, kernel, native crypto, node's internals, Hearth's own
// JS, dependencies' JS) and by write-path stage (the nearest frame from the leaf up that a rule
// recognises; a native call, such as a better-sqlite3 statement, shows as its JS caller).
// Samples are wall-clock: one that follows a stall (the thread preempted on the shared machine)
// carries the stall, so each sample counts for at most CAP µs (default 400, twice run.ts's interval).
//   node bench/profile/create-stages.mjs <profile dir> <requests> "<start µs> <end µs>"
import { readFileSync, readdirSync } from 'node:fs'
const [dir, opsS, winS] = process.argv.slice(2); const ops = Number(opsS)
const [w0, w1] = (winS ?? '0 1e30').split(' ').map(Number)
const f = readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))
const p = f.map((x) => JSON.parse(readFileSync(`${dir}/${x}`, 'utf8'))).sort((a, b) => b.nodes.length - a.nodes.length)[0]
const byId = new Map(p.nodes.map((n) => [n.id, n])); const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const R = [
  // [stage, test(fn, file)]
  ['signature (secp256k1, native)', (fn, u) => u.includes('secp256k1') || u.includes('/repo/crypto/')],
  ['event log append (SQLite + JS)', (fn, u) => u.includes('/src/sequencer/sequencer.ts') || u.includes('/src/firehose/')],
  ['commit/event encoders', (fn, u) => u.includes('/src/sequencer/events.ts') || u.includes('/src/repo/commit.ts') || u.includes('/src/repo/car')],
  ['actor store transaction (SQLite + JS)', (fn, u) => u.includes('/src/actor/store.ts') || u.includes('/src/actor/blobs.ts') || u.includes('/src/actor/transactor.ts') && fn === 'storeAndSequence'],
  ['session check (SQLite read + JS)', (fn, u) => u.includes('/src/account/refresh-tokens') ],
  ['account state (SQLite read + JS)', (fn, u) => u.includes('/src/account/accounts') || u.includes('/src/account/status')],
  ['repo_root write-behind', (fn, u) => u.includes('/src/account/repo-root') || u.includes('/src/actions/repo-roots')],
  ['auth (JWT, scope)', (fn, u) => u.includes('/src/auth/')],
  ['MST path copy + node encoding', (fn, u) => u.includes('/src/repo/mst/')],
  ['CIDs (sha-256)', (fn, u) => u.includes('/src/repo/cid') || fn === 'hash' && u.includes('crypto')],
  ['commit builder (rest)', (fn, u) => u.includes('/src/repo/commit-builder') || u.includes('/src/repo/block-map')],
  ['record: lexicon validation', (fn, u) => fn === 'assertValidRecord' || fn === 'validateRecord' || fn === 'hasRecordSchema' || fn === 'recordKeyProblem'],
  ['input: lexicon validation + depth', (fn, u) => fn === 'assertValidXrpcInput' || fn === 'exceedsNestingDepth'],
  ['record: JSON → data model → DAG-CBOR', (fn, u) => u.includes('/src/repo/data-model') || u.includes('/src/repo/cbor') || u.includes('@atcute/cbor')],
  ['record: prepare (rest: rkey/TID, blobs, backlinks)', (fn, u) => u.includes('/src/actor/prepare') || u.includes('/src/actor/backlinks') || u.includes('/src/repo/tid') || u.includes('/src/repo/syntax')],
  ['rate limiter', (fn, u) => u.includes('/src/xrpc/rate-limiter')],
  ['metrics (prom-client)', (fn, u) => u.includes('/src/metrics/') || u.includes('prom-client')],
  ['body read + JSON parse', (fn, u) => u.includes('/src/xrpc/body')],
  ['handler + commitPrepared (rest)', (fn, u) => u.includes('/src/api/') || u.includes('/src/actions/') || u.includes('/src/actor/transactor')],
  ['response write (writev: kernel)', (fn, u) => fn === 'writev' && !u],
  ['XRPC layer: routing, answer, headers', (fn, u) => u.includes('/src/xrpc/') || u.includes('/src/http/')],
  ['GC', (fn) => fn === '(garbage collector)'],
  ['node HTTP parse/objects, streams, timers', (fn, u) => /^node:/.test(u)],
  ['better-sqlite3 wrapper (other)', (fn, u) => u.includes('better-sqlite3')],
]
const tally = new Map(); let total = 0
let ts = p.startTime
for (let i = 0; i < p.samples.length; i++) {
  ts += p.timeDeltas[i] ?? 0
  if (ts < w0 || ts > w1) continue
  const leaf = byId.get(p.samples[i]).callFrame
  if (leaf.functionName === '(idle)') continue
  const dt = Math.min((p.timeDeltas[i] ?? 0), Number(process.env.CAP ?? 400)) / 1000; total += dt
  let id = p.samples[i], cat
  const sql = leaf.url.includes('better-sqlite3') || (!leaf.url && /^(run|get|all|iterate|exec|prepare|pragma|close)$/.test(leaf.functionName))
  while (id !== undefined && !cat) { const c = byId.get(id).callFrame; for (const [name, t] of R) if (t(c.functionName, c.url) && !(sql && (name.startsWith('better') || name.startsWith('node')))) { cat = name; break } id = parent.get(id) }
  cat ??= leaf.functionName === '(program)' ? 'native (unattributed)' : 'other'
  const k = cat; tally.set(k, (tally.get(k) ?? 0) + dt)
}
console.log(`sampled ${(total / ops * 1000).toFixed(0)} µs per request\n\nby stage`)
for (const [k, v] of [...tally].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${(v / ops * 1000).toFixed(1)} | ${(v / total * 100).toFixed(1)}% |`)

const m = new Map(); let ts2 = p.startTime, total2 = 0
const SQL_CALLERS = new Set(['getSession', 'getAccountState', 'backlinkConflicts'])
for (let i = 0; i < p.samples.length; i++) { ts2 += p.timeDeltas[i] ?? 0; if (ts2 < w0 || ts2 > w1) continue
  const f = byId.get(p.samples[i]).callFrame; if (f.functionName === '(idle)') continue
  const dt = Math.min(p.timeDeltas[i] ?? 0, 400) / 1000; total2 += dt
  const u = f.url, fn = f.functionName
  let k
  if (u.includes('better-sqlite3') || (u.includes('/src/') && (fn === '' && (u.includes('/actor/store.ts') || u.includes('/sequencer/sequencer.ts')) || SQL_CALLERS.has(fn)))) k = 'SQLite (statements; native time shows under their JS caller)'
  else if (fn === 'writev') k = 'kernel: the response writev'
  else if (u.includes('secp256k1')) k = 'signing (native)'
  else if (fn === 'hash' && u.includes('crypto')) k = 'sha-256 (native)'
  else if (fn === '(garbage collector)') k = 'GC'
  else if (!u) k = 'other native / runtime'
  else if (u.startsWith('node:')) k = 'node internals (HTTP, streams, events, async hooks)'
  else if (u.includes('/src/')) k = 'Hearth JS'
  else k = 'dependencies JS (lexicon, prom-client, atcute, …)'
  m.set(k, (m.get(k) ?? 0) + dt) }
console.log('\nby kind of code')
for (const [k, v] of [...m].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${(v / ops * 1000).toFixed(0)} | ${(v / total2 * 100).toFixed(0)}% |`)
