// `node --import tsx bench/profile/commit-alloc.ts [commits] [top]`: where a commit's bytes go.
// Runs commits of a post through commitPrepared (as bench/profile/commit.ts does) under V8's
// sampling heap profiler with the objects later collected by minor and major GCs kept in the
// profile (Node's --heap-prof drops them, and nearly all of a commit's allocation is garbage),
// so the samples estimate everything allocated, not what survives. Prints the bytes per commit
// by allocating function (self) and by the write path's step a stack runs through (inclusive).
// The sampled figures move by a few KiB from run to run (and which step a sample lands in with
// the inlining), so `exact` measures the total instead: run it with a young generation large
// enough that no collection happens during the loop, and the young generation's growth is what
// was allocated (the old generation's size moves with concurrent sweeping; objects V8 pretenures
// straight into it are missed, so this is a floor):
//   node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 --import tsx \
//     bench/profile/commit-alloc.ts exact [commits] [rounds]
// (each round starts from a full collection).
// HEARTH_TREE names another checkout to load the code from.
import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'
import { Session } from 'node:inspector/promises'
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost, postingAccount } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const EXACT = process.argv[2] === 'exact'
const args = EXACT ? process.argv.slice(3) : process.argv.slice(2)
const N = Number(args[0] ?? (EXACT ? 1000 : 3000))
const TOP = Number(args[1] ?? 30)
const host = await commitHost(ROOT, 'hearth-alloc-')
const { dir, sequencer, actors } = host
const { commit } = await postingAccount(host, 'did:plc:benchalloc0000000000000')
const commitOne = () => commit(1)

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number }
  selfSize: number
  children: Node[]
}
// The steps, matched against function names on a sample's stack, innermost step wins.
const STEPS: Array<[string, string[]]> = [
  ['prepare (validation, JSON → data model, record CBOR, CID)', ['prepareCreate']],
  ['MST: clone, add, changes (node encoding, hashing)', ['clone', 'add', 'changes']],
  ['commit: sign + encode', ['signCommit', 'encodeCommit']],
  ['covering proof', ['coveringProof']],
  ['buildCommit (rest)', ['buildCommit']],
  ['#commit event (CAR, CBOR)', ['commitEvent']],
  ['actor store transaction', ['applyCommit']],
  ['event log append', ['append', 'appendSoon', 'flush']],
]
const young = () => {
  let n = 0
  for (const sp of getHeapSpaceStatistics()) if (sp.space_name === 'new_space' || sp.space_name === 'new_large_object_space') n += sp.space_used_size
  return n
}

async function exact(): Promise<void> {
  let gcs = 0
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length
  })
  obs.observe({ entryTypes: ['gc'] })
  for (let r = 0; r < TOP; r++) {
    ;(globalThis as { gc?: () => void }).gc?.()
    await new Promise((res) => setTimeout(res, 20))
    const g0 = gcs
    const h0 = young()
    for (let i = 0; i < N; i++) await commitOne()
    const h1 = young()
    await new Promise((res) => setTimeout(res, 20)) // the observer reports on a later turn
    const note = gcs === g0 ? '' : ` (${gcs - g0} collection(s) during the loop: figure invalid, give a larger --min-semi-space-size)`
    console.log(`round ${r}: ${((h1 - h0) / N / 1024).toFixed(2)} KiB allocated per commit${note}`)
  }
  obs.disconnect()
}

try {
  for (let i = 0; i < 800; i++) await commitOne()
  if (EXACT) await exact()
  else await sampled()
} finally {
  actors.closeAll()
  sequencer.close()
  rmSync(dir, { recursive: true, force: true })
}

async function sampled(): Promise<void> {
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.enable')
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never)
  for (let i = 0; i < N; i++) await commitOne()
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: Node } }
  session.disconnect()
  const self = new Map<string, number>()
  const steps = new Map<string, number>()
  let total = 0
  const walk = (n: Node, stack: string[]) => {
    const name = n.callFrame.functionName || '(anonymous)'
    const file = n.callFrame.url.replace(/^.*\/(node_modules|src)\//, '$1/')
    const here = [...stack, name]
    if (n.selfSize > 0) {
      total += n.selfSize
      const key = `${name} ${file}:${n.callFrame.lineNumber + 1}`
      self.set(key, (self.get(key) ?? 0) + n.selfSize)
      let step = 'other (loop, promises, bench)'
      for (let i = here.length - 1; i >= 0 && step.startsWith('other'); i--) {
        for (const [label, names] of STEPS) if (names.includes(here[i] as string)) { step = label; break }
      }
      steps.set(step, (steps.get(step) ?? 0) + n.selfSize)
    }
    for (const c of n.children) walk(c, here)
  }
  walk(profile.head, [])
  const kib = (b: number) => (b / N / 1024).toFixed(2).padStart(7)
  console.log(`sampled allocation: ${kib(total)} KiB per commit (${N} commits, interval 512 B)`)
  console.log('\nby step (inclusive of callees):')
  for (const [k2, v] of [...steps].sort((a, b) => b[1] - a[1])) console.log(`${kib(v)} KiB  ${k2}`)
  console.log('\nby allocating function (self):')
  for (const [k2, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${kib(v)} KiB  ${k2}`)
}
