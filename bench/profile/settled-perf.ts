// `node --import tsx bench/profile/settled-perf.ts [calls]`: `perf record -g` of the Hearth bundle
// (dist/hearth.mjs, as `npm start` runs it, with --perf-basic-prof-only-functions) over `calls`
// settled applyWrites of BATCH (default 10) post creates, after 400 createRecords and 300
// applyWrites of warm-up, or with KIND=get (KIND=create, KIND=list) over `calls` getRecords
// (createRecords, listRecords of 100; KIND=upload: uploadBlobs of 1 MiB of the bench's
// incompressible bytes, after 8 of warm-up as the bench's core row)
// after 3,000 of warm-up; prints
// where the perf data is and the server CPU per record (per request for get) over the window.
// WARM and SETUP change the warm-up (3,000 calls, 300 for applyWrites) and the 400 createRecords
// before it (KIND=create WARM=0 SETUP=50 400: the bench's sequential row, a fresh server's first
// requests); PERF_HZ the sampling rate. NODE runs the server under another node binary; NO_PERF=1 measures without perf; APPLY_FLAGS adds node flags (e.g. "--trace-opt --trace-deopt",
// whose output over the window goes to window.log beside the perf data, and all.log for the run).
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { blobVariants } from '../server/workload.ts'
import { freePort, hearthEnv, readCpuMs, spawnPds } from '../server/processes.ts'

const calls = Number(process.argv[2] ?? 1000)
// KIND=get: getRecord of one of the 400 posts instead (per request, not per record).
const kind = process.env.KIND ?? 'apply'
const batch = Number(process.env.BATCH ?? 10)
const out = mkdtempSync(join(tmpdir(), 'hearth-settled-perf-'))
const plc = await startReferencePlc()
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const env = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', ...hearthEnv(port, mkdtempSync(join(tmpdir(), 'hearth-apply-data-')), plc.url) }
const bin = process.env.HEARTH_BIN ?? 'dist/hearth.mjs'
const extra = process.env.APPLY_FLAGS ? process.env.APPLY_FLAGS.split(' ') : []
const { child, stop } = await spawnPds({ name: 'Hearth', node: process.env.NODE || undefined, args: ['--max-semi-space-size=2', '--perf-basic-prof-only-functions', ...extra, bin, 'serve'], env, url, timeoutMs: 60_000 })
let serverOut = ''
child.stdout?.on('data', (d: Buffer) => (serverOut += d.toString()))
const pid = child.pid as number
const c = xrpcClient(url)
const acct = (await c.call('POST', 'com.atproto.server.createAccount', { json: { handle: 'apply-perf.pds.bench.test', email: 'apply-perf@bench.test', password: 'password-x' } })) as { did: string; accessJwt: string }
let n = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `apply post ${n++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date().toISOString() })
const apply = () => c.call('POST', 'com.atproto.repo.applyWrites', { token: acct.accessJwt, json: { repo: acct.did, writes: Array.from({ length: batch }, () => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post() })) } })
const rkeys: string[] = []
for (let i = 0; i < Number(process.env.SETUP ?? 400); i++) {
  const r = (await c.call('POST', 'com.atproto.repo.createRecord', { token: acct.accessJwt, json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post() } })) as { uri: string }
  rkeys.push(r.uri.slice(r.uri.lastIndexOf('/') + 1))
}
let k = 0
const get = () => c.call('GET', 'com.atproto.repo.getRecord', { params: { repo: acct.did, collection: 'app.bsky.feed.post', rkey: rkeys[(k++ * 7919) % rkeys.length] as string } })
const create = () => c.call('POST', 'com.atproto.repo.createRecord', { token: acct.accessJwt, json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post() } })
// As the bench's listRecords row: the newest 100 posts, the same page each time.
const list = () => c.call('GET', 'com.atproto.repo.listRecords', { params: { repo: acct.did, collection: 'app.bsky.feed.post', limit: '100' } })
// Distinct incompressible blobs made cheaply, as the disk blob row makes them (bench/server/s3.ts).
const nthBlob = blobVariants(100_000, 1024 * 1024)
let u = 0
const upload = () => c.call('POST', 'com.atproto.repo.uploadBlob', { token: acct.accessJwt, body: nthBlob(u++), contentType: 'application/octet-stream' })
const one = kind === 'get' ? get : kind === 'create' ? create : kind === 'list' ? list : kind === 'upload' ? upload : apply
const per = kind === 'apply' ? batch : 1
for (let i = 0; i < Number(process.env.WARM ?? (kind === 'apply' ? 300 : kind === 'upload' ? 8 : 3000)); i++) await one()
const perf = process.env.NO_PERF ? null : spawn('perf', ['record', '-g', '-F', process.env.PERF_HZ ?? '999', '-o', join(out, 'perf.data'), '-p', String(pid)], { stdio: 'ignore' })
await new Promise((r) => setTimeout(r, 500))
const outStart = serverOut.length
const c0 = readCpuMs(pid) as number
for (let i = 0; i < calls; i++) await one()
const cpu = ((readCpuMs(pid) as number) - c0) / (calls * per)
if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.once('exit', r)) }
writeFileSync(join(out, 'window.log'), serverOut.slice(outStart))
writeFileSync(join(out, 'all.log'), serverOut.slice(0, outStart) + '\n=== WINDOW ===\n' + serverOut.slice(outStart))
console.log(`server CPU per ${kind === 'apply' ? 'record' : 'request'} ${cpu.toFixed(4)} ms over ${calls} calls${kind === 'apply' ? ` of ${batch}` : ''}; perf data ${join(out, 'perf.data')}`)
await stop()
await plc.close()
