// Breakdown of a CPU profile (node --cpu-prof) by what the time was spent on: each sample goes to
// the first frame, from the leaf up, that a rule recognises. Native calls into better-sqlite3
// show as their JS caller, so "actor store (JS)" includes the SQLite reads it makes.
//   node bench/profile/breakdown.mjs <profile dir> <ops> ["<start µs> <end µs>"]
// OTHER=1 lists the leaves left unattributed; DETAIL="<category>" [DEPTH=n] lists a category's
// leaves with the Hearth frames above them.
import { readFileSync, readdirSync } from 'node:fs'
const dir = process.argv[2]
const ops = Number(process.argv[3] ?? 1)
const [w0, w1] = (process.argv[4] ?? '0 1e30').split(' ').map(Number)
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
const profs = files.map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'))).sort((a, b) => b.nodes.length - a.nodes.length)
const p = profs[0]
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const NATIVE_SQL = /^(run|get|all|iterate|exec|prepare|pragma|close|sqliteTransaction|Database|pluck|raw|transaction)$/
function rule(f) {
  const u = f.url, fn = f.functionName
  if (fn === '(garbage collector)') return 'GC'
  if (fn === '(program)') return 'native (unattributed)'
  if (fn === '(idle)') return null
  if (u.includes('better-sqlite3')) return 'SQLite'
  if (!u && NATIVE_SQL.test(fn)) return 'SQLite'
  if (!u && /^(ecdsaSign|sign|publicKeyCreate|privateKeyVerify)$/.test(fn)) return 'signing (secp256k1)'
  if (u.includes('secp256k1') || u.includes('@noble/curves')) return 'signing (secp256k1)'
  if (u.includes('/src/repo/crypto')) return 'signing (secp256k1)'
  if (u.includes('@noble/hashes') || (!u && /^(digest|update|hash)$/.test(fn))) return 'hashing (sha256)'
  if (u.includes('/src/repo/mst')) return 'MST'
  if (u.includes('/src/repo/cbor') || u.includes('/src/repo/cid') || u.includes('@atcute/cbor') || u.includes('@atcute/cid') || u.includes('/src/repo/lex-json') || u.includes('/src/repo/block')) return 'JSON↔CBOR, CIDs'
  if (u.includes('/src/repo/car')) return 'CAR encoding'
  if (u.includes('/src/repo/commit')) return 'commit building'
  if (u.includes('/src/repo/')) return 'repo (other)'
  if (u.includes('/src/sequencer/') || u.includes('/src/firehose/')) return 'event log, firehose'
  if (u.includes('/src/auth/') || u.includes('/src/oauth/')) return 'auth'
  if (u.includes('@atproto/lexicon') || u.includes('/src/lexicons') || u.includes('/src/lexicon')) return 'lexicon validation'
  if (u.includes('file-type') || u.includes('strtok3') || u.includes('token-types') || u.includes('/src/blob/sniff')) return 'mime sniffing'
  if (u.includes('/src/blob/')) return 'blob store (JS)'
  if (u.includes('/src/actor/')) return 'actor store (JS)'
  if (u.includes('/src/account/')) return 'account db (JS)'
  if (u.includes('/src/actions/')) return 'actions'
  if (u.includes('/src/api/')) return 'XRPC handler'
  if (u.includes('/src/xrpc/') || u.includes('/src/http/')) return 'XRPC/HTTP layer (Hearth)'
  if (/node:(_http|http|net|stream|internal\/(http|streams|stream_base|net|timers|url|querystring|js_stream))/.test(u) || /^(writev|writeBuffer|writeUtf8String|onStreamRead|execute|parserOnHeadersComplete)$/.test(fn)) return 'HTTP parse/write (node)'
  if (!u && /^(parse|stringify)$/.test(fn)) return 'JSON parse/stringify'
  return undefined
}
const tally = new Map()
const total = { ms: 0 }
let ts = p.startTime
const leafSelf = new Map()
for (let i = 0; i < p.samples.length; i++) {
  ts += p.timeDeltas[i] ?? 0
  if (ts < w0 || ts > w1) continue
  const dt = (p.timeDeltas[i] ?? 0) / 1000
  let id = p.samples[i]
  let cat
  while (id !== undefined) {
    const r = rule(byId.get(id).callFrame)
    if (r === null) { cat = null; break }
    if (r !== undefined) { cat = r; break }
    id = parent.get(id)
  }
  if (cat === null) continue
  if (cat === undefined) { const f = byId.get(p.samples[i]).callFrame; const k = `${f.functionName} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber}`; leafSelf.set(k, (leafSelf.get(k) ?? 0) + dt) }
  cat ??= 'other JS / runtime'
  tally.set(cat, (tally.get(cat) ?? 0) + dt)
  total.ms += dt
}
console.log(`busy ${total.ms.toFixed(0)} ms over ${ops} ops = ${(total.ms / ops * 1000).toFixed(0)} µs/op`)
for (const [k, v] of [...tally].sort((a, b) => b[1] - a[1])) console.log(`${(v / total.ms * 100).toFixed(1).padStart(5)}%  ${(v / ops * 1000).toFixed(0).padStart(6)} µs/op  ${k}`)
if (process.env.OTHER) for (const [k, v] of [...leafSelf].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`   other: ${(v / ops * 1000).toFixed(0).padStart(5)} µs/op ${k}`)
if (process.env.DETAIL) {
  const want = process.env.DETAIL
  const by = new Map()
  let ts2 = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    ts2 += p.timeDeltas[i] ?? 0
    if (ts2 < w0 || ts2 > w1) continue
    const dt = (p.timeDeltas[i] ?? 0) / 1000
    let id = p.samples[i], cat, leaf = byId.get(id).callFrame
    while (id !== undefined) { const r = rule(byId.get(id).callFrame); if (r === null) { cat = null; break } if (r !== undefined) { cat = r; break } id = parent.get(id) }
    if (cat !== want) continue
    // the nearest two Hearth frames above
    let j = p.samples[i], names = []
    while (j !== undefined && names.length < Number(process.env.DEPTH ?? 2)) { const f = byId.get(j).callFrame; if (f.url.includes('/src/')) names.push(`${f.functionName}@${f.url.split('/src/')[1]}`); j = parent.get(j) }
    const k = `${leaf.functionName} <- ${names.join(' <- ')}`
    by.set(k, (by.get(k) ?? 0) + dt)
  }
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${(v / ops * 1000).toFixed(0).padStart(5)} µs/op ${k}`)
}
