// The last-resort handler for errors no code handled: installed once per process by the
// server's start-up, it keeps the server serving, and reports the error with the request it
// came from (to HEARTH_BACKSTOP_LOG too). The bug it catches here is planted by the test, in a
// process of its own, since the suite's runner fails the run when any real request gets there.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const dir = mkdtempSync(join(tmpdir(), 'hearth-backstop-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const pdsHelper = fileURLToPath(new URL('../helpers/pds.ts', import.meta.url))

test('an error no code handled is reported with its request, and the server keeps serving', async () => {
  const script = join(dir, 'planted-bug.mts')
  const log = join(dir, 'backstop.jsonl')
  writeFileSync(
    script,
    `import { startTestPds } from ${JSON.stringify(pdsHelper)}
const first = await startTestPds()
const second = await startTestPds()
// Two servers in one process, one set of handlers.
const handlers = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]
// The planted bugs: an exception thrown from a timer, and a rejection nobody awaits, both on
// behalf of a request.
first.hearth.xrpc.addRoute('GET', '/planted/throw', ({ res }) => {
  setTimeout(() => {
    throw new Error('planted exception')
  }, 5)
  res.end('ok')
})
first.hearth.xrpc.addRoute('GET', '/planted/reject', async ({ res }) => {
  void Promise.reject(new Error('planted rejection'))
  res.end('ok')
})
for (const path of ['/planted/throw', '/planted/reject']) await (await fetch(first.url + path)).text()
await new Promise((r) => setTimeout(r, 100))
const health = await fetch(first.url + '/xrpc/_health')
process.stdout.write(JSON.stringify({ handlers, health: health.status }) + '\\n')
await first.close()
await second.close()
`,
  )
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, HEARTH_BACKSTOP_LOG: log, LOG_ENABLED: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0, stderr)
  const report = JSON.parse(stdout.trim()) as { handlers: number[]; health: number }
  // node's own handlers are not there outside the test runner: these are the backstop's alone.
  assert.deepEqual(report, { handlers: [1, 1], health: 200 })

  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; request: { id: number; method: string; path: string } | null; error: string })
  assert.deepEqual(
    lines.map((l) => [l.kind, l.request?.method, l.request?.path, l.error.split('\n')[0]]).sort(),
    [
      ['uncaughtException', 'GET', '/planted/throw', 'Error: planted exception'],
      ['unhandledRejection', 'GET', '/planted/reject', 'Error: planted rejection'],
    ],
  )
  for (const l of lines) assert.ok(Number.isInteger(l.request?.id))
  // With logging off, stderr still says it, as a crash would have.
  assert.match(stderr, /uncaughtException in request \d+ \(GET \/planted\/throw\)/)
  assert.match(stderr, /Error: planted exception/)
})
