// `node --import tsx bench/profile/warmup.ts <dist/hearth.mjs> [windows] [per window] [node flags...]`:
// how a freshly started Hearth's CPU per createRecord falls as its code warms up. Starts the
// bundle as `npm start` does (`--max-semi-space-size=2`, its allocator settings; other node
// flags may follow), makes two accounts, sends 50 createRecords to one of them (the server
// bench's warm-up; WARM=n sends n), then `windows` windows of `per window` (default 8 × 400, the bench's
// sequential row being the first 400) sequential createRecords to the other, each with the
// server's CPU per request from /proc/<pid>/stat. The bench's row is the first window; a
// figure taken after thousands of requests (ab.ts, syscalls.ts) is a later one.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { freePort, hearthEnv, readCpuMs, spawnPds } from '../server/processes.ts'

const bin = process.argv[2] ?? 'dist/hearth.mjs'
const windows = Number(process.argv[3] ?? 8)
const per = Number(process.argv[4] ?? 400)
const WARM = Number(process.env.WARM ?? 50)
const flags = process.argv.length > 5 ? process.argv.slice(5) : ['--max-semi-space-size=2']
const dataDir = mkdtempSync(join(tmpdir(), 'hearth-warmup-'))
const plc = await startReferencePlc()
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const env = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', ...hearthEnv(port, dataDir, plc.url) }
const pds = await spawnPds({ name: 'Hearth', args: [...flags, bin, 'serve'], env, url, timeoutMs: 60_000 })
const client = xrpcClient(url)
try {
  const account = async (name: string) =>
    (await client.call('POST', 'com.atproto.server.createAccount', {
      json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: `password-${name}` },
    })) as { did: string; accessJwt: string }
  const main = await account('warmup-main')
  const warm = await account('warmup-warm')
  let k = 0
  const creates = async (acct: { did: string; accessJwt: string }, n: number) => {
    for (let i = 0; i < n; i++, k++) {
      const record = { $type: 'app.bsky.feed.post', text: `post ${k}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() }
      await client.call('POST', 'com.atproto.repo.createRecord', { token: acct.accessJwt, json: { repo: acct.did, collection: 'app.bsky.feed.post', record } })
    }
  }
  await creates(warm, WARM)
  const pid = pds.child.pid as number
  // The main thread's ticks, apart from the other threads' (V8's compiler and GC helpers, libuv's pool).
  const mainTicks = () => {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  }
  const tick = 1000 / 100
  const figures: string[] = []
  const main_: string[] = []
  for (let w = 0; w < windows; w++) {
    const c0 = readCpuMs(pid) as number
    const m0 = mainTicks()
    await creates(main, per)
    const c1 = readCpuMs(pid) as number
    const m1 = mainTicks()
    figures.push(((c1 - c0) / per).toFixed(3))
    main_.push((((m1 - m0) * tick) / per).toFixed(3))
  }
  console.log(`${flags.join(' ')}: server CPU per createRecord, windows of ${per} after ${WARM} of warm-up: ${figures.join(' ')} ms`)
  console.log(`  of which the main thread: ${main_.join(' ')} ms (${readdirSync(`/proc/${pid}/task`).length} threads)`)
} finally {
  client.close()
  await pds.stop()
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
}
