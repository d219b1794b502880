// `hearth serve` whose stdout and stderr readers are gone (the process that piped them died, a
// closed terminal) must still stop on SIGTERM. Its shutdown line then failed with EPIPE, the
// last-resort handler reported that on stderr, which failed the same way, and so on: a loop of
// errors that kept the process at full CPU, never reaching its exit.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort, hearthEnv, readCpuMs, spawnPds } from '../../bench/server/processes.ts'
import { buildBundle } from '../helpers/hearth-process.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('hearth serve stops on SIGTERM after its stdout and stderr readers have gone', async () => {
  buildBundle()
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-closed-output-'))
  // Nothing listens on the PLC URL: the server is only started and stopped.
  const env = hearthEnv(port, dataDir, 'http://127.0.0.1:9')
  const { child } = await spawnPds({ name: 'Hearth', args: [join(ROOT, 'dist/hearth.mjs'), 'serve'], env, url: `http://127.0.0.1:${port}`, timeoutMs: 60_000 })
  const pid = child.pid!
  try {
    child.stdout?.destroy()
    child.stderr?.destroy()
    await sleep(100)
    process.kill(pid, 'SIGTERM')
    let alive = true
    for (let i = 0; i < 50 && alive; i++) {
      await sleep(100)
      alive = child.exitCode === null && child.signalCode === null
    }
    assert.equal(alive, false, `still running 5 s after SIGTERM, having used ${readCpuMs(pid)} ms of CPU`)
    assert.equal(child.exitCode, 0)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  }
})
