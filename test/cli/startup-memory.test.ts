// What an idle `hearth serve` holds once it has started: not the young generation start-up grew
// (a memory-reducing collection once listening, off the request path), nor the lexicon
// validator (loaded by the first request that needs it).
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startHearthTree } from '../../bench/server/processes.ts'
import { buildBundle } from '../helpers/hearth-process.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('hearth serve, started as npm start starts it, has given back the young generation by the time it answers, without the lexicon validator loaded', async () => {
  buildBundle()
  const out = join(tmpdir(), `hearth-startup-probe-${process.pid}.json`)
  rmSync(out, { force: true })
  const probeModule = fileURLToPath(new URL('../../bench/server/memory-probe.cjs', import.meta.url))
  // Nothing listens on the PLC URL: an idle server never asks it.
  const pds = await startHearthTree(ROOT, 'http://127.0.0.1:9', { env: { HMEM_OUT: out }, nodeArgs: ['--require', probeModule] })
  type Probe = { spaces: Record<string, number>; lexiconLoaded: boolean }
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
