// `node --import tsx bench/profile/flags-ab.ts [rounds]`: the bench's main workload
// (bench/server/workload.ts, the rows of `npm run bench` up to uploadBlob) against this tree's
// bundle started twice per round, once with `npm start`'s node flags (A) and once with
// FLAGS_B added (B), alternating, each on a fresh data directory; prints the server CPU per op
// of each row, each side's median over the rounds, and in how many rounds B was lower.
// NODE_A / NODE_B run a side under another node binary (e.g. Node 22's, to compare runtimes);
// TREE_A / TREE_B run a side from another checkout (built), to compare two trees' warm-up rows.
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { startHearthTree } from '../server/processes.ts'
import { runWorkload, type ServerResults } from '../server/workload.ts'

const rounds = Number(process.argv[2] ?? 3)
const flagsB = (process.env.FLAGS_B ?? '').split(' ').filter(Boolean)
const flagsA = (process.env.FLAGS_A ?? '').split(' ').filter(Boolean)
const tree = process.env.TREE ?? process.cwd()
const plc = await startReferencePlc()
const keys = ['createSeqCpuMs', 'createConcCpuMs', 'createSharedCpuMs', 'applyWritesCpuMs', 'getRecordCpuMs', 'listRecordsCpuMs', 'createSeqWarmCpuMs', 'uploadBlobCpuMs'] as const
const res: Record<'A' | 'B', ServerResults[]> = { A: [], B: [] }
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
    const node = process.env[`NODE_${side}`] || undefined
    const p = await startHearthTree(process.env[`TREE_${side}`] || tree, plc.url, { nodeArgs: side === 'A' ? flagsA : flagsB, node })
    try {
      res[side].push(await runWorkload(p.url, () => undefined, () => p.cpuMs()))
    } finally {
      await p.stop()
    }
  }
  process.stderr.write(`round ${r + 1} done\n`)
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
console.log(`A: ${process.env.TREE_A ?? tree} ${process.env.NODE_A ?? 'node'} ${flagsA.join(' ') || '(npm start flags)'}  B: ${process.env.TREE_B ?? tree} ${process.env.NODE_B ?? 'node'} ${flagsB.join(' ')}`)
for (const k of keys) {
  const a = res.A.map((x) => x[k] as number)
  const b = res.B.map((x) => x[k] as number)
  const lower = b.filter((v, i) => v < (a[i] as number)).length
  console.log(`${k.padEnd(20)} A ${median(a).toFixed(3)}  B ${median(b).toFixed(3)}  B lower in ${lower} of ${rounds}   A [${a.map((x) => x.toFixed(3)).join(' ')}] B [${b.map((x) => x.toFixed(3)).join(' ')}]`)
}
await plc.close()
