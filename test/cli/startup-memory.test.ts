// What `hearth serve` gives back once it has started: the young generation start-up grew (a
// memory-reducing collection, off the request path), and V8's compilers, which npm start's
// preload keeps off during start-up, come back on.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startHearthTree } from '../../bench/server/processes.ts'
import { buildBundle } from '../helpers/hearth-process.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TIERS_PRELOAD = fileURLToPath(new URL('../../bin/startup-tiers.cjs', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs a CommonJS script in a fresh node with these flags; resolves with its stdout. */
async function runNode(flags: string[], script: string, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [...flags, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.equal(code, 0, err)
  return out
}

// V8's optimization status bits (%GetOptimizationStatus): never optimized (optimizer off),
// optimized, baseline (Sparkplug) code.
const HOT_FUNCTION_STATUS = `
  const NEVER_OPTIMIZE = 1 << 1, OPTIMIZED = 1 << 4, BASELINE = 1 << 15
  function hot(x) { let s = 0; for (let i = 0; i < 1000; i++) s += i * x; return s }
  const status = () => { const s = %GetOptimizationStatus(hot); return { off: (s & NEVER_OPTIMIZE) !== 0, optimized: (s & OPTIMIZED) !== 0, baseline: (s & BASELINE) !== 0 } }
  async function warm(ms) {
    // Concurrent compilation finishes on another thread: call until it lands (or ms pass).
    const end = Date.now() + ms
    do { for (let i = 0; i < 20000; i++) hot(i); await new Promise((r) => setImmediate(r)) } while (!status().optimized && Date.now() < end)
    return status()
  }
`

test('the preload keeps both compilers off until start-up is done, then they compile hot code again', async () => {
  const out = await runNode(
    ['--allow-natives-syntax', '--require', TIERS_PRELOAD],
    `${HOT_FUNCTION_STATUS}
    ;(async () => {
      const during = await warm(300)
      const restore = globalThis[Symbol.for('hearth.restoreStartupTiers')]
      const doneBefore = restore.done()
      restore()
      const after = await warm(5000)
      process.stdout.write(JSON.stringify({ during, after, doneBefore, doneAfter: restore.done() }))
    })()`,
  )
  const r = JSON.parse(out) as Record<string, { off: boolean; optimized: boolean; baseline: boolean } | boolean>
  assert.deepEqual(r.during, { off: true, optimized: false, baseline: false }, 'a hot function is neither optimized nor baseline-compiled during start-up')
  assert.equal((r.after as { optimized: boolean }).optimized, true, 'once restored, the hot function is optimized')
  assert.equal(r.doneBefore, false)
  assert.equal(r.doneAfter, true)
})

test("an operator's own --no-opt is left as it is", async () => {
  const out = await runNode(
    ['--allow-natives-syntax', '--no-opt', '--require', TIERS_PRELOAD],
    `${HOT_FUNCTION_STATUS}
    ;(async () => {
      globalThis[Symbol.for('hearth.restoreStartupTiers')]()
      process.stdout.write(JSON.stringify(await warm(300)))
    })()`,
  )
  const after = JSON.parse(out) as { off: boolean; optimized: boolean; baseline: boolean }
  assert.equal(after.optimized, false, 'still not optimized: the operator turned the optimizer off')
  assert.equal(after.off, true)
  assert.equal(after.baseline, true, 'the baseline compiler, which the operator left on, is back on')
})

test('restoreStartupTiers is a no-op without the preload', async () => {
  const { restoreStartupTiers } = await import('../../src/cli/start-tiers.ts')
  assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for('hearth.restoreStartupTiers')], undefined)
  assert.equal(restoreStartupTiers(), false)
})

test('hearth serve, started as npm start starts it, has given back the young generation and turned the compilers on by the time it answers, without the lexicon validator loaded', async () => {
  buildBundle()
  const out = join(tmpdir(), `hearth-startup-probe-${process.pid}.json`)
  rmSync(out, { force: true })
  const probeModule = fileURLToPath(new URL('../../bench/server/memory-probe.cjs', import.meta.url))
  // Nothing listens on the PLC URL: an idle server never asks it.
  const pds = await startHearthTree(ROOT, 'http://127.0.0.1:9', { env: { HMEM_OUT: out }, nodeArgs: ['--require', probeModule] })
  type Probe = { spaces: Record<string, number>; tiersRestored: boolean | null; lexiconLoaded: boolean }
  const probe = async (): Promise<Probe> => {
    rmSync(out, { force: true })
    process.kill(pds.pid, 'SIGUSR2')
    for (let i = 0; i < 250 && !existsSync(out); i++) await sleep(20)
    await sleep(50)
    return JSON.parse(readFileSync(out, 'utf8')) as Probe
  }
  try {
    const idle = await probe()
    // Start-up grows the new space to its 4 MB semi-spaces (~6.9 MB resident); given back, it is
    // under 1 MB.
    assert.ok(idle.spaces.new_space! < 2048, `new space ${idle.spaces.new_space} KB resident`)
    assert.equal(idle.tiersRestored, true)
    // Routing and answering describeServer (which the harness asked) need no lexicon validator.
    assert.equal(idle.lexiconLoaded, false, '@atproto/lexicon is not loaded by an idle server')
    // The first request that needs it loads it, and is answered as before.
    const res = await fetch(`${pds.url}/xrpc/com.atproto.server.createSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'x' }),
    })
    assert.equal(res.status, 400)
    assert.deepEqual(await res.json(), { error: 'InvalidRequest', message: 'Input must have the property "identifier"' })
    assert.equal((await probe()).lexiconLoaded, true)
  } finally {
    await pds.stop()
    rmSync(out, { force: true })
  }
})
