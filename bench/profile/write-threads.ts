// `node --import tsx bench/profile/write-threads.ts <tree> [requests] [rounds] [warm]`: where a
// settled createRecord's server CPU goes, by thread and by database. Starts `<tree>/dist/hearth.mjs`
// as `npm start` does (its node flags and allocator settings; HEARTH_NODE_FLAGS adds more), makes
// one account, sends `warm` createRecords (default 3,600, as many requests as the server bench's
// settled row follows), then rounds of `requests` sequential createRecords. Per round and request:
// the CPU of each thread from /proc/<pid>/task/*/stat (user and system apart; the main thread, V8's
// workers, libuv's pool, the rest), and per database the WAL frames written and the checkpoints
// that reset its WAL (the WAL-index header's mxFrame and the WAL header's checkpoint sequence,
// read after every request, so the frames of a WAL that was reset are counted too).
// HEARTH_PERF=<file> records the last round under `perf record -g` into <file> (with
// HEARTH_NODE_FLAGS=--perf-basic-prof-only-functions to name the JS frames).
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { startHearthTree } from '../server/processes.ts'
import { postWriter } from './post-writer.ts'

const tree = process.argv[2]
if (!tree) throw new Error('usage: write-threads.ts <tree> [requests] [rounds] [warm]')
const N = Number(process.argv[3] ?? 1000)
const rounds = Number(process.argv[4] ?? 3)
const warm = Number(process.argv[5] ?? 3600)
const TICK_MS = 1000 / (Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100)

const plc = await startReferencePlc()
const nodeArgs = process.env.HEARTH_NODE_FLAGS ? process.env.HEARTH_NODE_FLAGS.split(' ').filter(Boolean) : []
// EXP_* variables go on to the server: switches of a scratch tree built for an experiment.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('EXP_'))) as Record<string, string>
const pds = await startHearthTree(tree, plc.url, { nodeArgs, env })
const client = xrpcClient(pds.url)

function threadKind(comm: string, tid: number): string {
  if (tid === pds.pid) return 'main'
  if (comm.startsWith('V8 ')) return 'v8-workers'
  if (comm.startsWith('libuv')) return 'libuv-pool'
  return 'other'
}

/** kind → [user ticks, system ticks], summed over the threads alive now. */
function threads(): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>()
  for (const t of readdirSync(`/proc/${pds.pid}/task`)) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pds.pid}/task/${t}/stat`, 'utf8')
    } catch {
      continue
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const kind = threadKind(comm, Number(t))
    const acc = out.get(kind) ?? [0, 0]
    acc[0] += Number(f[11])
    acc[1] += Number(f[12])
    out.set(kind, acc)
  }
  return out
}

function findDbs(dir: string, found: Record<string, string> = {}): Record<string, string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) findDbs(p, found)
    else if (e.name.endsWith('.sqlite')) found[e.name] = p
  }
  return found
}

const buf = Buffer.alloc(24)
interface WalState {
  frames: number
  ckptSeq: number
}
function walState(db: string): WalState {
  let frames = 0
  let ckptSeq = 0
  try {
    const fd = openSync(`${db}-shm`, 'r')
    readSync(fd, buf, 0, 24, 0)
    closeSync(fd)
    frames = buf.readUInt32LE(16) // WalIndexHdr.mxFrame (native order)
    const wfd = openSync(`${db}-wal`, 'r')
    readSync(wfd, buf, 0, 16, 0)
    closeSync(wfd)
    ckptSeq = buf.readUInt32BE(12)
  } catch {
    // no WAL yet
  }
  return { frames, ckptSeq }
}

// BATCH=n: each request is an applyWrites of n post creates instead of a createRecord (the
// bench's applyWrites row is n=10); figures stay per request.
const BATCH = Number(process.env.BATCH ?? 0)
async function batchWriter(): Promise<(n: number) => Promise<void>> {
  const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: 'threads.pds.bench.test', email: 'threads@bench.test', password: 'password-threads' },
  })) as { did: string; accessJwt: string }
  let k = 0
  return async (n) => {
    for (let i = 0; i < n; i++) {
      const writes = Array.from({ length: BATCH }, () => ({
        $type: 'com.atproto.repo.applyWrites#create',
        collection: 'app.bsky.feed.post',
        value: { $type: 'app.bsky.feed.post', text: `post ${k}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k++ * 1000).toISOString() },
      }))
      await client.call('POST', 'com.atproto.repo.applyWrites', { token: acct.accessJwt, json: { repo: acct.did, writes } })
    }
  }
}

try {
  const creates = BATCH > 0 ? await batchWriter() : await postWriter(client, 'threads')
  await creates(warm)
  const dbs = findDbs(pds.dataDir)
  console.log(`databases: ${Object.keys(dbs).join(', ')}; WAL sizes ${Object.entries(dbs).map(([n, p]) => `${n} ${(statSync(`${p}-wal`).size / 1024).toFixed(0)} KiB`).join(', ')}`)
  for (let r = 0; r < rounds; r++) {
    const frames: Record<string, number> = {}
    const resets: Record<string, number> = {}
    const last: Record<string, WalState> = {}
    for (const [n, p] of Object.entries(dbs)) {
      last[n] = walState(p)
      frames[n] = 0
      resets[n] = 0
    }
    const perf = process.env.HEARTH_PERF && r === rounds - 1 ? spawn('perf', ['record', '-g', '-o', process.env.HEARTH_PERF, '-p', String(pds.pid)], { stdio: 'ignore' }) : null
    if (perf) await new Promise((res) => setTimeout(res, 1500))
    const t0 = threads()
    const wall0 = performance.now()
    for (let i = 0; i < N; i++) {
      await creates(1)
      for (const [n, p] of Object.entries(dbs)) {
        const s = walState(p)
        const prev = last[n] as WalState
        if (s.ckptSeq !== prev.ckptSeq) {
          resets[n] = (resets[n] as number) + 1
          frames[n] = (frames[n] as number) + s.frames
        } else frames[n] = (frames[n] as number) + s.frames - prev.frames
        last[n] = s
      }
    }
    const wall = performance.now() - wall0
    const t1 = threads()
    if (perf) {
      perf.kill('SIGINT')
      await new Promise((res) => perf.once('exit', res))
    }
    const per = (ticks: number) => ((ticks * TICK_MS) / N).toFixed(3)
    let tu = 0
    let ts = 0
    const parts: string[] = []
    for (const [kind, [u, s]] of t1) {
      const [u0, s0] = t0.get(kind) ?? [0, 0]
      tu += u - u0
      ts += s - s0
      parts.push(`${kind} ${per(u - u0)}+${per(s - s0)}`)
    }
    console.log(
      `round ${r}: ${((N * 1000) / wall).toFixed(0)}/s, server CPU ${per(tu + ts)} ms per request (user ${per(tu)}, system ${per(ts)}); ` +
        `by thread (user+system): ${parts.join(', ')}`,
    )
    console.log(
      `  WAL frames per request: ${Object.keys(dbs).map((n) => `${n} ${((frames[n] as number) / N).toFixed(1)} (${resets[n]} resets)`).join(', ')}`,
    )
  }
} finally {
  client.close()
  await pds.stop()
  await plc.close()
}
