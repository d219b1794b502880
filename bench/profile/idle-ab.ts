// `node --import tsx bench/profile/idle-ab.ts <treeA> <treeB> [rounds]`: the idle RSS of two
// checkouts (each built with `npm run build`), started alternately as `npm start` and `npm run
// bench` start them, read as the benchmark's `rss_idle` reads it (/proc/<pid>/status as soon as
// describeServer first answers), then again 1.5 s later, with the process's CPU by then.
// Differences of ~1 MB are within one run's noise on a shared machine: compare medians of rounds.
import { readFileSync } from 'node:fs'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { startHearthTree } from '../server/processes.ts'

const [treeA, treeB] = process.argv.slice(2, 4)
if (!treeA || !treeB) throw new Error('usage: idle-ab.ts <treeA> <treeB> [rounds]')
const rounds = Number(process.argv[4] ?? 5)
const plc = await startReferencePlc()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const got: Record<'A' | 'B', Array<{ ready: number; later: number; cpuMs: number; anon: number; file: number }>> = { A: [], B: [] }

/** Anonymous and file-backed resident MB (smaps_rollup): the heaps, and the binary's and libraries' pages. */
function split(pid: number): { anon: number; file: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0)
  return { anon: kb('Anonymous') / 1024, file: (kb('Rss') - kb('Anonymous')) / 1024 }
}
try {
  for (let round = 0; round < rounds; round++) {
    for (const [side, tree] of (round % 2 === 0 ? [['A', treeA], ['B', treeB]] : [['B', treeB], ['A', treeA]]) as Array<['A' | 'B', string]>) {
      const pds = await startHearthTree(tree, plc.url)
      try {
        const ready = pds.rssMb() ?? NaN
        await sleep(1500)
        const reading = { ready, later: pds.rssMb() ?? NaN, cpuMs: pds.cpuMs() ?? NaN, ...split(pds.pid) }
        got[side].push(reading)
        console.log(
          `round ${round} ${side}: rss at ready ${ready.toFixed(1)} MB, 1.5 s later ${reading.later.toFixed(1)} MB ` +
            `(anonymous ${reading.anon.toFixed(1)}, file-backed ${reading.file.toFixed(1)}), cpu ${reading.cpuMs} ms`,
        )
      } finally {
        await pds.stop()
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  for (const side of ['A', 'B'] as const) {
    const r = got[side]
    console.log(
      `${side}: rss at ready median ${median(r.map((x) => x.ready)).toFixed(1)} MB (${r.map((x) => x.ready.toFixed(1)).join(' / ')}), ` +
        `1.5 s later median ${median(r.map((x) => x.later)).toFixed(1)} (anonymous ${median(r.map((x) => x.anon)).toFixed(1)}, ` +
        `file-backed ${median(r.map((x) => x.file)).toFixed(1)}), cpu median ${median(r.map((x) => x.cpuMs))} ms`,
    )
  }
} finally {
  await plc.close()
}
