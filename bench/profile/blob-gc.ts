// `node --import tsx bench/profile/blob-gc.ts [<tree>] [node flags...]`: where the CPU of a steady
// stream of 1 MiB uploadBlobs (or, MODE=get, getBlobs) goes by thread, and which garbage
// collections it causes. Starts the
// tree's bundle (`<tree>/dist/hearth.mjs`, this checkout by default; run `npm run build` in it) as
// `npm start` does, plus the GC recorder preload (blob-gc-count.cjs) and any node flags given,
// sends WARMUP uploads (default 600: enough for a server to reach the state a long stream of
// uploads keeps it in; 40 shows the state after start), then N more (default 200) of distinct
// incompressible bytes, one at a time, and prints per thread of the server the CPU per upload
// (user and system, from /proc/<pid>/task/*/stat: the main thread, V8's helper threads and libuv's
// pool) and the collections inside the timed part, by kind and flags, with their pauses.
// CORE=1 runs the server benchmark's main workload (bench/server/workload.ts) first, whose last
// row is its uploads: the state the bench's uploadBlob row runs in.
// PERF=<file> records the timed part with `perf record -g` into <file> (give the node flag
// --perf-basic-prof-only-functions so that JavaScript frames are named); STRACE=<file> counts the
// timed part's system calls instead (`strace -f -c`).
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { startHearthTree } from '../server/processes.ts'
import { runWorkload } from '../server/workload.ts'
import { blobBodies, procCpuMs } from './blob-bodies.ts'

const tree = resolve(process.argv[2] ?? fileURLToPath(new URL('../..', import.meta.url)))
const flags = process.argv.slice(3)
const WARMUP = Number(process.env.WARMUP ?? 600)
const N = Number(process.env.N ?? 200)
/** `upload` (default) or `get`: getBlob of 1 MiB blobs a record references, round-robin. */
const MODE = process.env.MODE ?? 'upload'
const gcFile = join(tmpdir(), `hearth-blob-gc-${process.pid}.json`)
const preload = fileURLToPath(new URL('./blob-gc-count.cjs', import.meta.url))
const plc = await startReferencePlc()
const pds = await startHearthTree(tree, plc.url, { nodeArgs: ['--require', preload, ...flags], env: { GC_COUNT_FILE: gcFile } })
try {
  const client = xrpcClient(pds.url)
  const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: 'blobgc.pds.bench.test', email: 'blobgc@bench.test', password: 'password-blob-gc' },
  })) as { did: string; accessJwt: string }
  const body = blobBodies('blob-gc')
  const upload = () =>
    client.call('POST', 'com.atproto.repo.uploadBlob', { token: acct.accessJwt, body: body(), contentType: 'application/octet-stream' }) as Promise<{ blob: { ref: { $link: string } } }>
  let op: () => Promise<unknown> = upload
  if (MODE === 'get') {
    // Blobs a record references (so made permanent), read round-robin.
    const blobs: Array<{ ref: { $link: string } }> = []
    for (let i = 0; i < 8; i++) blobs.push((await upload()).blob)
    await client.call('POST', 'com.atproto.repo.createRecord', {
      token: acct.accessJwt,
      json: { repo: acct.did, collection: 'com.example.bench.blobs', record: { $type: 'com.example.bench.blobs', blobs } },
    })
    let i = 0
    op = async () => {
      const cid = (blobs[i++ % blobs.length] as { ref: { $link: string } }).ref.$link
      const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(acct.did)}&cid=${cid}`)
      if ((await res.arrayBuffer()).byteLength !== 1024 * 1024) throw new Error(`getBlob: HTTP ${res.status}`)
    }
  }
  // CORE=1: the server benchmark's main workload first, as before its uploadBlob row.
  if (process.env.CORE === '1') await runWorkload(pds.url, () => {}, () => null)
  for (let i = 0; i < WARMUP; i++) await op()

  const threads = (): Map<string, [number, number]> => {
    const out = new Map<string, [number, number]>()
    for (const tid of readdirSync(`/proc/${pds.pid}/task`)) out.set(tid, procCpuMs(`/proc/${pds.pid}/task/${tid}/stat`))
    return out
  }
  const perf = process.env.PERF
    ? spawn('perf', ['record', '-g', '-F', process.env.PERF_HZ ?? '999', '-o', process.env.PERF, '-p', String(pds.pid)], { stdio: 'ignore' })
    : process.env.STRACE
      ? spawn('strace', ['-f', '-c', '-o', process.env.STRACE, '-p', String(pds.pid)], { stdio: 'ignore' })
      : null
  if (perf) await new Promise((r) => setTimeout(r, 500))
  const before = threads()
  const t0 = Date.now()
  for (let i = 0; i < N; i++) await op()
  const t1 = Date.now()
  const after = threads()
  if (perf) {
    perf.kill('SIGINT')
    await new Promise((r) => perf.once('exit', r))
  }

  const per = (ms: number) => (ms / N).toFixed(2)
  let others: [number, number] = [0, 0]
  for (const [tid, [u, s]] of after) {
    const [u0, s0] = before.get(tid) ?? [0, 0]
    if (tid === String(pds.pid)) console.log(`main thread: user ${per(u - u0)} sys ${per(s - s0)} ms/op`)
    else others = [others[0] + u - u0, others[1] + s - s0]
  }
  console.log(`other threads: user ${per(others[0])} sys ${per(others[1])} ms/op`)

  process.kill(pds.pid, 'SIGUSR2')
  await new Promise((r) => setTimeout(r, 300))
  const events = JSON.parse(readFileSync(gcFile, 'utf8')) as Array<[number, string, number, number]>
  const kinds = new Map<string, [number, number]>()
  for (const [t, kind, ms, gcFlags] of events) {
    if (t < t0 || t > t1) continue
    const k = `${kind} (flags ${gcFlags})`
    const [n, sum] = kinds.get(k) ?? [0, 0]
    kinds.set(k, [n + 1, sum + ms])
  }
  if (kinds.size === 0) console.log('no collection in the timed part')
  for (const [k, [n, ms]] of kinds) console.log(`${k}: ${n} in ${N} requests, ${ms.toFixed(1)} ms of pause in all`)
} finally {
  await pds.stop()
  await plc.close()
}
