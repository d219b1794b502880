// The server benchmark's `rss_after_load` reading for Hearth alone, taken as bench/server/index.ts
// takes it, and split up: each tree's bundle started as `npm start` starts it (startHearthTree:
// the same flags and allocator settings as startHearthProcess), with the benchmark's AppView
// settings, the main workload (workload.ts) sent as soon as describeServer answers, VmRSS read
// 500 ms after it. Then, for that same moment: resident pages by mapping kind (glibc's main heap
// `[heap]`, other anonymous mappings: V8's pages, the second malloc arena, thread stacks; files),
// V8's figures through the memory probe, and with RSS_TRIM=1 the RSS after glibc's
// malloc_trim(0) (through gdb): how much of the reading is free memory the allocator keeps.
//   node --import tsx bench/profile/rss-after-load.ts <tree>[@VAR=value] ...
// Each <tree> is a copy with `npm run build` done in it; `@VAR=value` sets one more environment
// variable for that tree's server (e.g. `@MALLOC_MMAP_THRESHOLD_=65536`). ROUNDS (default 3)
// alternating rounds. IDLE_PAUSE_MS=<ms> waits that long at idle before the workload, and
// IDLE_SIGNAL=1 then sends the server the probe's SIGUSR2, as bench/server/memory.ts does before
// its workload (BENCHMARKS.md "Memory after load, sixth round": it changes the reading).
// Linux only (/proc).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { startHearthTree } from '../server/processes.ts'
import { startBenchAppView } from '../server/proxy.ts'
import { runWorkload } from '../server/workload.ts'

const specs = process.argv.slice(2)
if (specs.length === 0) throw new Error('usage: rss-after-load.ts <tree>[@VAR=value] ...')
const rounds = Number(process.env.ROUNDS ?? 3)
const trim = process.env.RSS_TRIM === '1'
const idlePauseMs = Number(process.env.IDLE_PAUSE_MS ?? 0)
const idleSignal = process.env.IDLE_SIGNAL === '1'
const probeFile = fileURLToPath(new URL('../server/memory-probe.cjs', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10

function residentByKind(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {}
  let kind = ''
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\S+\s*(.*)$/.exec(line)
    if (header) {
      const name = header[1]!.trim()
      kind = name === '' ? 'anon' : name.startsWith('/') ? 'file' : name === '[heap]' ? 'heap' : 'other'
      continue
    }
    const rss = /^Rss:\s+(\d+)/.exec(line)
    if (rss) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) / 1024
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, Math.round(v * 10) / 10]))
}

function vmRssMb(pid: number): number {
  return Math.round((Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024) * 10) / 10
}

const plc = await startReferencePlc()
const appView = await startBenchAppView()
try {
  for (let round = 0; round < rounds; round++) {
    for (const spec of specs) {
      const [tree, extra] = spec.split('@') as [string, string | undefined]
      const out = join(tmpdir(), `rss-after-load-${process.pid}.json`)
      const env: Record<string, string> = { ...appView.env, HMEM_OUT: out }
      if (extra) env[extra.slice(0, extra.indexOf('='))] = extra.slice(extra.indexOf('=') + 1)
      const pds = await startHearthTree(tree, plc.url, { env, nodeArgs: ['--require', probeFile] })
      try {
        if (idlePauseMs > 0) await sleep(idlePauseMs)
        if (idleSignal) {
          process.kill(pds.pid, 'SIGUSR2')
          await sleep(200)
        }
        const res = await runWorkload(pds.url, () => {}, () => pds.cpuMs())
        await sleep(500)
        const reading = vmRssMb(pds.pid)
        const kinds = residentByKind(pds.pid)
        rmSync(out, { force: true })
        process.kill(pds.pid, 'SIGUSR2')
        for (let i = 0; i < 250 && !existsSync(out); i++) await sleep(20)
        await sleep(20)
        const probe = JSON.parse(readFileSync(out, 'utf8')) as { mem: NodeJS.MemoryUsage; spaces: Record<string, number> }
        let trimmed: number | undefined
        if (trim) {
          execFileSync('gdb', ['-p', String(pds.pid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { stdio: 'ignore' })
          trimmed = vmRssMb(pds.pid)
        }
        console.log(
          JSON.stringify({
            spec,
            rssAfterLoad: reading,
            ...kinds,
            v8Committed: mb(probe.mem.heapTotal),
            newSpace: Math.round(probe.spaces.new_space! / 102.4) / 10,
            arrayBuffers: mb(probe.mem.arrayBuffers),
            ...(trimmed === undefined ? {} : { afterTrim: trimmed }),
            uploadBlobCpuMs: res.uploadBlobCpuMs,
            listRecordsCpuMs: res.listRecordsCpuMs,
          }),
        )
      } finally {
        await pds.stop()
        rmSync(out, { force: true })
      }
    }
  }
} finally {
  await appView.close()
  await plc.close()
}
