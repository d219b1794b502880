// `node --import tsx bench/profile/syscalls.ts <cpu|strace|perf> [requests] [rounds]`: starts Hearth
// from source as run.ts does (without the profiler), makes one account, sends 300 createRecords
// to warm up, then:
//   cpu     rounds of `requests` sequential createRecords, each with the server's CPU per request
//           from /proc/<pid>/stat (user and system apart) and its context switches per request;
//   strace  one such round under `strace -f -c -p <pid>` (syscalls of all threads, counts);
//   perf    one such round under `perf record -g -p <pid>` (HEARTH_NODE_FLAGS=
//           --perf-basic-prof-only-functions names the JS frames).
// HEARTH_BIN runs another checkout's bin/hearth.js (to compare two builds in one run).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { freePort, hearthEnv, spawnPds } from '../server/processes.ts'
import { postWriter } from './post-writer.ts'

const mode = process.argv[2] ?? 'cpu'
if (!['cpu', 'strace', 'perf'].includes(mode)) throw new Error(`unknown mode ${mode}: cpu, strace or perf`)
const N = Number(process.argv[3] ?? 2000)
const rounds = Number(process.argv[4] ?? 3)
const out = mkdtempSync(join(tmpdir(), `hearth-${mode}-`))
const dataDir = mkdtempSync(join(tmpdir(), 'hearth-syscalls-data-'))
const plc = await startReferencePlc()
const port = await freePort()
const env = hearthEnv(port, dataDir, plc.url)
const url = `http://127.0.0.1:${port}`
const nodeFlags = process.env.HEARTH_NODE_FLAGS ? process.env.HEARTH_NODE_FLAGS.split(' ') : []
const { child, stop } = await spawnPds({ name: 'Hearth', args: [...nodeFlags, process.env.HEARTH_BIN ?? 'bin/hearth.js', 'serve'], env, url, timeoutMs: 60_000 })
const pid = child.pid as number
const client = xrpcClient(url)

/** [user ticks, system ticks, voluntary, involuntary context switches] */
function usage(): number[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const count = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return [Number(fields[11]), Number(fields[12]), count('voluntary_ctxt_switches'), count('nonvoluntary_ctxt_switches')]
}
const TICK_MS = 1000 / (Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100)

async function watched(tool: string, args: string[], run: () => Promise<void>): Promise<void> {
  const proc = spawn(tool, args, { stdio: ['ignore', 'inherit', 'inherit'] })
  await new Promise((r) => setTimeout(r, 1500))
  await run()
  proc.kill('SIGINT')
  await new Promise((r) => proc.once('exit', r))
}

try {
  const creates = await postWriter(client, 'syscalls')
  await creates(300)
  if (mode === 'strace') {
    const file = join(out, 'strace.txt')
    await watched('strace', ['-f', '-c', '-o', file, '-p', String(pid)], () => creates(N))
    console.log(`${N} createRecords under strace; per request:`)
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line)
      if (m) console.log(`  ${(Number(m[1]) / N).toFixed(2).padStart(8)} ${m[2]}`)
    }
  } else if (mode === 'perf') {
    const file = join(out, 'perf.data')
    await watched('perf', ['record', '-g', '-o', file, '-p', String(pid)], () => creates(N))
    console.log(`perf data in ${file}: perf report -i ${file} --children --sort sym --stdio -g none`)
  } else {
    for (let r = 0; r < rounds; r++) {
      const u0 = usage()
      const t0 = performance.now()
      await creates(N)
      const ms = performance.now() - t0
      const u1 = usage()
      const d = u1.map((v, i) => v - (u0[i] as number))
      const per = (v: number) => ((v * TICK_MS) / N).toFixed(3)
      console.log(
        `round ${r}: ${N} createRecords, ${((N * 1000) / ms).toFixed(0)}/s, server CPU ${per((d[0] as number) + (d[1] as number))} ms per request ` +
          `(user ${per(d[0] as number)}, system ${per(d[1] as number)}; context switches per request ${((d[2] as number) / N).toFixed(2)} voluntary, ${((d[3] as number) / N).toFixed(2)} involuntary)`,
      )
    }
  }
} finally {
  client.close()
  await stop()
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
}
