// `hearth serve` collects garbage once each time the server falls idle: after start-up and after
// each burst of activity, never while busy, and not again while it stays idle.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { fullCollection, startIdleCollection } from '../../src/cli/idle-gc.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Keeps the event loop busy for `ms` (a window with this in it is not idle). */
function spin(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end);
}

/** Waits until `check` holds, giving up after `ms` (timers run late on a loaded machine). */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) return false
    await sleep(10)
  }
  return true
}

/**
 * Runs the watcher over windows of the given utilizations (each collection measures one more
 * value: its own time, which must not count as activity) and returns the collections counted
 * after each window.
 */
async function afterEachWindow(utilizations: number[]): Promise<number[]> {
  const script = [...utilizations]
  let collections = 0
  const seen: number[] = []
  const stop = startIdleCollection({
    checkEveryMs: 5,
    collect: () => collections++,
    windowUtilization: () => script.shift() ?? 0,
    onWindow: () => {
      if (script.length > 0 || seen.length < utilizations.length) seen.push(collections)
    },
  })
  try {
    assert.ok(await until(() => script.length === 0, 5000), 'the windows were checked')
    return seen
  } finally {
    stop()
  }
}

test('collects in the first idle window, not again while idle, and again after activity', async () => {
  // busy (start-up), idle → collects (then its own time, 0.9, is measured and left out), idle ×3,
  // busy, idle → collects (its own time), idle.
  const seen = await afterEachWindow([0.5, 0, 0.9, 0, 0, 0, 0.6, 0, 0.9, 0])
  assert.deepEqual(seen.slice(0, 8), [0, 1, 1, 1, 1, 1, 2, 2])
})

test('never collects while every window is busy; a window just over the threshold is busy', async () => {
  assert.deepEqual(await afterEachWindow([0.5, 0.3, 0.02, 0.011, 0.9, 0.5]), [0, 0, 0, 0, 0, 0])
  // At or under 1% is idle.
  assert.deepEqual(await afterEachWindow([0.2, 0.01]), [0, 1])
})

test('on the event loop’s own measure, an idle process collects within a few windows', async () => {
  // No polling while it waits: the test's own wake-ups would be the activity it measures.
  let stop = () => {}
  let timer: NodeJS.Timeout | undefined
  const collected = await new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), 15_000)
    stop = startIdleCollection({ checkEveryMs: 250, collect: () => resolve(true) })
  })
  clearTimeout(timer)
  stop()
  assert.ok(collected, 'an idle window came and collected within 15 s')
})

test('the default collection is a full collection, without --expose-gc at start', async () => {
  // In a fresh process started without the flag: an unreachable object behind a WeakRef is gone
  // after one call (a scavenge alone would not reach an object already in the old generation).
  const script = `
    import { fullCollection } from ${JSON.stringify(fileURLToPath(new URL('../../src/cli/idle-gc.ts', import.meta.url)))}
    const collect = fullCollection()
    if (typeof globalThis.gc !== 'undefined') throw new Error('gc exposed on the main context')
    let target = { big: new Array(1000).fill(1) }
    const ref = new WeakRef(target)
    // Enough allocation for several scavenges: the target survives them into the old generation.
    for (let round = 0; round < 4; round++) {
      let junk = []
      for (let i = 0; i < 200000; i++) junk.push({ i })
      junk = null
      await new Promise((r) => setTimeout(r, 10))
    }
    target = null
    await new Promise((r) => setTimeout(r, 10))
    collect()
    await new Promise((r) => setTimeout(r, 10))
    process.stdout.write(ref.deref() === undefined ? 'collected' : 'kept')
  `
  const out = await runModule([], script)
  assert.equal(out, 'collected')
  assert.equal(typeof fullCollection(), 'function')
})

test('the memory-reducing collection gives back the young generation that a full collection keeps', async () => {
  // A fresh process under 4 MB semi-spaces (twice npm start's, so that the growth is plain): a start-up's worth of surviving objects
  // grows the new space to its maximum; gc() right after keeps it, the memory-reducing one does not.
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8'
    import { fullCollection, memoryReducingCollection } from ${JSON.stringify(fileURLToPath(new URL('../../src/cli/idle-gc.ts', import.meta.url)))}
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
    const keep = []
    for (let i = 0; i < 300000; i++) keep.push({ i, s: 'x' + i })
    const grown = newSpace()
    fullCollection()()
    const afterFull = newSpace()
    const done = await memoryReducingCollection()
    process.stdout.write(JSON.stringify({ grown, afterFull, afterReducing: newSpace(), done, kept: keep.length }))
  `
  const r = JSON.parse(await runModule(['--max-semi-space-size=4'], script)) as { grown: number; afterFull: number; afterReducing: number; done: boolean }
  const MB = 1024 * 1024
  assert.equal(r.done, true)
  assert.ok(r.grown >= 4 * MB, `start-up grew the new space (${r.grown})`)
  assert.ok(r.afterFull >= 4 * MB, `a full collection keeps it (${r.afterFull})`)
  assert.ok(r.afterReducing <= MB, `the memory-reducing collection gives it back (${r.afterReducing})`)
})

/** Runs `script` as an ES module in a fresh node (through tsx, after `flags`); its stdout, once it exited 0. */
async function runModule(flags: string[], script: string): Promise<string> {
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.equal(code, 0, err)
  return out
}
