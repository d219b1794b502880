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

test('collects in the first idle window, not again while idle, and again after activity', async () => {
  let collections = 0
  const stop = startIdleCollection({ checkEveryMs: 100, collect: () => collections++ })
  try {
    await sleep(250)
    assert.equal(collections, 1, 'the first idle window after start-up collects')
    await sleep(400)
    assert.equal(collections, 1, 'a server that stays idle does not collect again')
    // A busy window (60% of it on the event loop), then idle ones.
    await sleep(20)
    spin(80)
    await sleep(400)
    assert.equal(collections, 2, 'the first idle window after activity collects')
  } finally {
    stop()
  }
})

test('never collects while every window is busy', async () => {
  let collections = 0
  const stop = startIdleCollection({ checkEveryMs: 50, collect: () => collections++ })
  try {
    for (let i = 0; i < 8; i++) {
      spin(40)
      await sleep(5)
    }
    assert.equal(collections, 0)
  } finally {
    stop()
  }
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
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.equal(code, 0, err)
  assert.equal(out, 'collected')
  assert.equal(typeof fullCollection(), 'function')
})
