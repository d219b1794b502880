// `npm start` is what the README tells an operator (and a supervisor) to run: stopping it with
// SIGTERM or SIGINT must stop the server and free its port, not leave an orphan holding it.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

async function startNpm(port: number): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-npm-start-'))
  dirs.push(dataDir)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const child = spawn(npm, ['start', '--silent'], {
    cwd: root,
    env: { ...process.env, PDS_PORT: String(port), PDS_DATA_DIRECTORY: dataDir, LOG_ENABLED: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))))
  let up = false
  for (let i = 0; i < 200 && !up; i++) {
    up = (await fetch(`http://127.0.0.1:${port}/xrpc/_health`).catch(() => null))?.status === 200
    if (!up) await new Promise((r) => setTimeout(r, 100))
  }
  assert.ok(up, `npm start did not serve: ${output}`)
  return { child, output: () => output, exited }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to the npm start process stops the server and frees its port`, async () => {
    const port = await freePort()
    const { child, output, exited } = await startNpm(port)
    child.kill(signal)
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 8000))])
    assert.notEqual(code, 'timeout', `npm start did not exit within 8 s of ${signal}: ${output()}`)
    let free = false
    for (let i = 0; i < 50 && !free; i++) {
      free = await portIsFree(port)
      if (!free) await new Promise((r) => setTimeout(r, 100))
    }
    assert.ok(free, `port ${port} is still held after npm start exited on ${signal}: ${output()}`)
    assert.match(output(), new RegExp(`${signal}: shutting down`))
    // The local did:plc directory's URL, where standard resolvers find it (the server's root).
    assert.match(output(), new RegExp(`Local did:plc directory: http://localhost:${port} `))
    // Local mode sends no email: the operator is told where the codes are.
    assert.match(output(), /Email is not configured .*hearth\.js email-codes <handle>/)
  })
}
