// `node --import tsx bench/profile/gc-trace.ts <dist/hearth.mjs> [requests] [node flags...]`:
// starts a built Hearth under --trace-gc-nvp (output to a file in a temporary folder), sends
// 300 createRecords of a post to warm up, then `requests` more, sequentially, and sums the
// young-generation collections of the timed part: how many, their pause, and the bytes they
// copied (survived) and promoted per request. Which objects a write leaves alive decides what
// its scavenges cost, since a scavenge copies what survives and nothing else. Other node flags
// than `npm start`'s `--max-semi-space-size=2` may follow the request count.
import { spawn } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { freePort, hearthEnv } from '../server/processes.ts'
import { postWriter } from './post-writer.ts'

const bin = process.argv[2] ?? 'dist/hearth.mjs'
const N = Number(process.argv[3] ?? 3000)
const flags = process.argv.length > 4 ? process.argv.slice(4) : ['--max-semi-space-size=2']
const dir = mkdtempSync(join(tmpdir(), 'hearth-gc-'))
const log = join(dir, 'gc.log')
const plc = await startReferencePlc()
const port = await freePort()
const out = openSync(log, 'w')
const child = spawn(process.execPath, [...flags, '--trace-gc-nvp', bin, 'serve'], {
  env: { PATH: process.env.PATH ?? '', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', ...hearthEnv(port, join(dir, 'data'), plc.url) },
  stdio: ['ignore', out, 'inherit'],
})
const url = `http://127.0.0.1:${port}`
const client = xrpcClient(url)
try {
  for (let i = 0; ; i++) {
    try {
      await client.call('GET', 'com.atproto.server.describeServer')
      break
    } catch {
      if (i > 300) throw new Error('Hearth did not start')
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const creates = await postWriter(client, 'gctrace')
  await creates(300)
  const skip = readFileSync(log, 'utf8').split('\n').length
  await creates(N)
  const lines = readFileSync(log, 'utf8').split('\n').slice(skip - 1)
  const sum: Record<string, { n: number; pause: number; pauses: number[]; allocated: number; promoted: number }> = {}
  for (const line of lines) {
    const kind = /gc=(\w+)/.exec(line)?.[1]
    if (!kind) continue
    const field = (name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1] ?? 0)
    const s = (sum[kind] ??= { n: 0, pause: 0, pauses: [], allocated: 0, promoted: 0 })
    s.n++
    s.pause += field('pause')
    s.pauses.push(field('pause'))
    s.allocated += field('allocated')
    s.promoted += field('promoted')
  }
  // Pauses are wall time: on a loaded machine a collection preempted halfway reads long, so the
  // median pause times the count is given beside the sum.
  for (const [kind, s] of Object.entries(sum)) {
    const median = [...s.pauses].sort((a, b) => a - b)[Math.floor(s.pauses.length / 2)] as number
    console.log(
      `gc=${kind}: ${s.n} in ${N} createRecords; pause per request ${((s.pause / N) * 1000).toFixed(1)} µs summed, ` +
        `${((median * s.n) / N * 1000).toFixed(1)} µs at the median pause (${median.toFixed(2)} ms); ` +
        `allocated ${(s.allocated / N / 1024).toFixed(1)} KiB and promoted ${(s.promoted / N / 1024).toFixed(2)} KiB per request`,
    )
  }
} finally {
  client.close()
  child.kill()
  await new Promise((r) => child.once('exit', r))
  await plc.close()
  if (process.env.KEEP) console.log(`log kept in ${log}`)
  else rmSync(dir, { recursive: true, force: true })
}
