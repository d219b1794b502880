// `node --import tsx bench/profile/recompiles.ts`: which SQL a server compiles while it serves,
// and where. Starts Hearth (a built tree's dist/hearth.mjs: TREE, default this one; NODEBIN runs
// it under another node, e.g. bench/.official-0.5/node/bin/node for SQLite 3.54), makes one
// account with 200 posts, runs a mix of the common calls (writes of posts, profiles, follows and
// likes; reads; sync; sessions) 100 times to warm up, then N times (default 400) under
// `perf record -g`, and prints the JS frames above SQLite's compiler: `sqlite3Reprepare` (a
// statement compiled again on a run: a value SQLite plans with, see LIMIT_PARAM in
// src/storage/sqlite.ts) and `sqlite3LockAndPrepare` (any compile, including db.prepare per call).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { startHearthTree } from '../server/processes.ts'

const perfData = join(mkdtempSync(join(tmpdir(), 'hearth-recompiles-')), 'perf.data')
const here = fileURLToPath(new URL('../..', import.meta.url))
const plc = await startReferencePlc()
const pds = await startHearthTree(process.env.TREE ?? here, plc.url, { nodeArgs: ['--perf-basic-prof-only-functions'], node: process.env.NODEBIN })
const c = xrpcClient(pds.url)
const a = (await c.call('POST', 'com.atproto.server.createAccount', { json: { handle: 'mix.pds.bench.test', email: 'm@bench.test', password: 'password-m' } })) as any
const post = (i: number) => ({ $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date(1.7e12 + i * 1000).toISOString() })
for (let b = 0; b < 20; b++) await c.call('POST', 'com.atproto.repo.applyWrites', { token: a.accessJwt, json: { repo: a.did, writes: Array.from({ length: 10 }, (_, j) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post(b * 10 + j) })) } })
const blob = (await c.call('POST', 'com.atproto.repo.uploadBlob', { token: a.accessJwt, body: Buffer.alloc(2000, 7), contentType: 'image/png' })) as any
let i = 1000
let refresh = a.refreshJwt as string
const ops: Array<[string, () => Promise<unknown>]> = [
  ['create', async () => c.call('POST', 'com.atproto.repo.createRecord', { token: a.accessJwt, json: { repo: a.did, collection: 'app.bsky.feed.post', record: post(i++) } })],
  ['put', async () => c.call('POST', 'com.atproto.repo.putRecord', { token: a.accessJwt, json: { repo: a.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: `n${i++}` } } })],
  ['get', async () => c.call('GET', 'com.atproto.repo.getRecord', { params: { repo: a.did, collection: 'app.bsky.actor.profile', rkey: 'self' } })],
  ['list', async () => c.call('GET', 'com.atproto.repo.listRecords', { params: { repo: a.did, collection: 'app.bsky.feed.post', limit: '30' } })],
  ['describe', async () => c.call('GET', 'com.atproto.repo.describeRepo', { params: { repo: a.did } })],
  ['session', async () => c.call('GET', 'com.atproto.server.getSession', { token: a.accessJwt })],
  ['latest', async () => c.call('GET', 'com.atproto.sync.getLatestCommit', { params: { did: a.did } })],
  ['status', async () => c.call('GET', 'com.atproto.sync.getRepoStatus', { params: { did: a.did } })],
  ['listRepos', async () => c.call('GET', 'com.atproto.sync.listRepos', { params: { limit: '10' } })],
  ['syncGetRecord', async () => { const r = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRecord?did=${a.did}&collection=app.bsky.actor.profile&rkey=self`); await r.arrayBuffer() }],
  ['getBlob', async () => { const r = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${a.did}&cid=${blob.blob.ref.$link}`); await r.arrayBuffer() }],
  ['listBlobs', async () => c.call('GET', 'com.atproto.sync.listBlobs', { params: { did: a.did, limit: '10' } })],
  ['prefs', async () => c.call('GET', 'app.bsky.actor.getPreferences', { token: a.accessJwt })],
  ['checkStatus', async () => c.call('GET', 'com.atproto.server.checkAccountStatus', { token: a.accessJwt })],
  ['follow', async () => c.call('POST', 'com.atproto.repo.createRecord', { token: a.accessJwt, json: { repo: a.did, collection: 'app.bsky.graph.follow', record: { $type: 'app.bsky.graph.follow', subject: `did:plc:${(i++).toString().padStart(24, 'a')}`, createdAt: new Date().toISOString() } } })],
  ['like', async () => c.call('POST', 'com.atproto.repo.createRecord', { token: a.accessJwt, json: { repo: a.did, collection: 'app.bsky.feed.like', record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${a.did}/app.bsky.feed.post/3k${i++}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: new Date().toISOString() } } })],
  ['refresh', async () => { const r = (await c.call('POST', 'com.atproto.server.refreshSession', { token: refresh })) as any; refresh = r.refreshJwt }],
  ['listReposCursor', async () => { const r = (await c.call('GET', 'com.atproto.sync.listRepos', { params: { limit: '1' } })) as any; if (r.cursor) await c.call('GET', 'com.atproto.sync.listRepos', { params: { limit: '1', cursor: r.cursor } }) }],
  ['getRepo', async () => { const r = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${a.did}`); await r.arrayBuffer() }],
]
for (let k = 0; k < 100; k++) for (const [, f] of ops) await f()
const perf = spawn('perf', ['record', '-g', '-o', perfData, '-p', String(pds.pid)], { stdio: 'ignore' })
await new Promise((r) => setTimeout(r, 1500))
for (let k = 0; k < Number(process.env.N ?? 600); k++) for (const [, f] of ops) await f()
perf.kill('SIGINT'); await new Promise((r) => perf.once('exit', r))
c.close(); await pds.stop(); await plc.close()

// Samples whose stack holds `symbol`, counted by the nearest JS frame above it.
function callers(symbol: string): Array<[string, number]> {
  const script = execFileSync('perf', ['script', '-i', perfData], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] })
  const counts = new Map<string, number>()
  let total = 0
  for (const sample of script.split('\n\n')) {
    total++
    const frames = sample.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1] ?? '')
    const at = frames.findIndex((f) => f.startsWith(symbol))
    if (at < 0) continue
    const js = frames.slice(at + 1).find((f) => f.startsWith('JS:') && !/^JS:[*^~]?$/.test(f)) ?? '(no JS frame)'
    counts.set(js, (counts.get(js) ?? 0) + 1)
  }
  console.log(`${symbol}: ${[...counts.values()].reduce((a, b) => a + b, 0)} of ${total} samples`)
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 10)
}
for (const symbol of ['sqlite3Reprepare', 'sqlite3LockAndPrepare']) for (const [frame, n] of callers(symbol)) console.log(`  ${String(n).padStart(6)}  ${frame}`)
if (!process.env.KEEP) rmSync(perfData, { force: true })
else console.log(perfData)
