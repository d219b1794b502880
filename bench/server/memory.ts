// Where an idle and a loaded Hearth's memory goes: starts the bundle as the server benchmark
// does (plain node, `npm start`'s flags, given on the command line), reads RSS at idle, after the
// benchmark's main workload (workload.ts) and after HMEM_MANY more accounts (each: createAccount,
// 5 createRecord, listRecords, getRepo), split into V8 heap, external, the main malloc heap, the
// other anonymous mappings (V8 pages, thread malloc arenas) and file-backed pages.
//   npm run build && HMEM_ENV='MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072' HMEM_MANY=100 \
//     node --import tsx bench/server/memory.ts --max-semi-space-size=2
// HMEM_LATE=<s> adds the idle and after-load readings again, that many seconds after each.
// HMEM_FLOOR=1 adds two readings after the main workload: after a full collection (AFTER_GC),
// then after glibc's malloc_trim(0), called through gdb (AFTER_TRIM): what the process holds
// live, apart from garbage not yet collected and freed memory the allocator keeps.
// Linux only (/proc).
import { execFileSync } from 'node:child_process'
import { readFileSync, mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { freePort, hearthEnv, spawnPds, readCpuMs } from './processes.ts'
import { runWorkload } from './workload.ts'
import { xrpcClient } from './client.ts'

const flags = process.argv.slice(2)
const plc = await startReferencePlc()
const port = await freePort()
const dataDir = mkdtempSync(join(tmpdir(), 'hmem-'))
const out = join(tmpdir(), `hmem-out-${port}.json`)
const extra: Record<string, string> = {}
for (const kv of (process.env.HMEM_ENV ?? '').split(' ').filter(Boolean)) { const [k, v] = kv.split('='); extra[k!] = v! }
const env = { ...hearthEnv(port, dataDir, plc.url), HMEM_OUT: out, ...extra }
const url = `http://127.0.0.1:${port}`
const sp = await spawnPds({ name: 'Hearth', args: [...flags, '--require', fileURLToPath(new URL('./memory-probe.cjs', import.meta.url)), process.env.HMEM_ENTRY ?? 'dist/hearth.mjs', 'serve'], env, url, timeoutMs: 60000 })
const pid = sp.child.pid!
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
function rollup() {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const g = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0) / 1024
  return { rss: g('Rss'), anon: g('Anonymous'), file: g('Rss') - g('Anonymous') }
}
function byMapping() {
  // group anon rss by mapping kind: [heap] (brk/malloc main arena), anon (mmap: V8 heap, malloc arenas, sqlite), files
  const t = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')
  const groups: Record<string, number> = {}
  let cur = ''; let curSize = 0; let curHdr = ''; const tops: [string, number, number][] = []
  for (const line of t) {
    const hdr = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\S+\s*(.*)$/.exec(line)
    if (hdr) { const name = hdr[3]!.trim(); const size = (parseInt(hdr[2]!, 16) - parseInt(hdr[1]!, 16)) / 1024; curSize = size; curHdr = line.slice(0, 40);
      cur = name === '' ? (size >= 60000 && size <= 70000 ? 'anon~64MB(arena)' : 'anon') : name.startsWith('/') ? (name.includes('node_modules') ? 'file:node_modules' : name.includes('/bin/node') || name.endsWith('node') ? 'file:node' : 'file:other') : name; continue }
    const m = /^Rss:\s+(\d+)/.exec(line); if (m) { groups[cur] = (groups[cur] ?? 0) + Number(m[1]) / 1024; if (cur.startsWith('anon') || cur==='[heap]') tops.push([cur + ' ' + curHdr, Math.round(curSize/1024*10)/10, Math.round(Number(m[1])/1024*10)/10]) }
  }
  console.log('TOPANON', JSON.stringify(tops.sort((a,b)=>b[2]-a[2]).slice(0,12)))
  return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, Math.round(v * 10) / 10]).sort((a, b) => (b[1] as number) - (a[1] as number)))
}
async function probe() { try { rmSync(out, { force: true }) } catch {}; process.kill(pid, 'SIGUSR2'); for (let i = 0; i < 250 && !existsSync(out); i++) await sleep(20); await sleep(20); const j = JSON.parse(readFileSync(out, 'utf8')); const mb = (x: number) => Math.round(x / 1048576 * 10) / 10
  return { rss: mb(j.mem.rss), heapTotal: mb(j.mem.heapTotal), heapUsed: mb(j.mem.heapUsed), external: mb(j.mem.external), arrayBuffers: mb(j.mem.arrayBuffers), v8physical: mb(j.heap.physical), malloced: mb(j.heap.malloced), spacesKB: j.spaces } }
const report = async (label: string) => { await sleep(500); const p = await probe(); console.log(label, JSON.stringify({ ...rollup(), probe: p, maps: byMapping(), cpuMs: readCpuMs(pid) })) }
try {
  await sleep(1000)
  await report('IDLE')
  // HMEM_LATE=<s>: each of the idle and after-load readings again that many seconds later, once
  // the server has been idle that long (the idle collection of `hearth serve`, V8's own reducer).
  const late = Number(process.env.HMEM_LATE ?? 0)
  const readLate = async (label: string) => {
    if (late <= 0) return
    await sleep(late * 1000)
    await report(`${label}_${late}S`)
  }
  await readLate('IDLE')
  const res = await runWorkload(url, () => {}, () => readCpuMs(pid))
  console.log('CPU', JSON.stringify({ seq: res.createSeqCpuMs, conc: res.createConcCpuMs, get: res.getRecordCpuMs, list: res.listRecordsCpuMs, apply: res.applyWritesCpuMs, blob: res.uploadBlobCpuMs }))
  await report('AFTER_LOAD')
  await readLate('AFTER_LOAD')
  if (process.env.HMEM_FLOOR) {
    writeFileSync(`${out}.gc`, '')
    await report('AFTER_GC')
    rmSync(`${out}.gc`, { force: true })
    execFileSync('gdb', ['-p', String(pid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { stdio: 'ignore' })
    await report('AFTER_TRIM')
  }
  const many = Number(process.env.HMEM_MANY ?? 0)
  if (many) {
    const c = xrpcClient(url)
    for (let i = 0; i < many; i++) {
      const a = (await c.call('POST', 'com.atproto.server.createAccount', { json: { handle: `many-acct-${i}.pds.bench.test`, email: `m${i}@bench.test`, password: `password-m${i}` } })) as { did: string; accessJwt: string }
      for (let k = 0; k < 5; k++) await c.call('POST', 'com.atproto.repo.createRecord', { token: a.accessJwt, json: { repo: a.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: `post ${k}`, createdAt: new Date().toISOString() } } })
      await c.call('GET', 'com.atproto.repo.listRecords', { params: { repo: a.did, collection: 'app.bsky.feed.post' } })
      const r = await fetch(`${url}/xrpc/com.atproto.sync.getRepo?did=${a.did}`); await r.arrayBuffer()
    }
    await report(`AFTER_MANY${many}`)
  }
} catch (err) {
  console.log('ERR', err)
  process.exitCode = 1
} finally {
  await sp.stop()
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(out, { force: true })
  await plc.close()
}
