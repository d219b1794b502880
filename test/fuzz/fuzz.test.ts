// The fuzzer in CI: a few thousand requests over every XRPC method against Hearth as its own
// process (the bundle), bounded in time. Any 5xx that is not an upstream's 502/504, the process
// exiting, or the server left unhealthy fails it; the message carries the figures and, for each
// failure, the request, the response, Hearth's logged stack and the command that replays it.
// `npm run fuzz -- --requests 100000` is the long run; FUZZ_SEED picks another seed here.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatReport, runFuzz } from './engine.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 20240601)
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 3000)

test(`fuzzing every XRPC method: no 5xx, no exit, always healthy (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
  const report = await runFuzz({ seed: SEED, requests: REQUESTS, seconds: 45, log: (line) => t.diagnostic(line) })
  const lines = formatReport(report)
  for (const line of lines) t.diagnostic(line)
  assert.equal(report.exited, null, lines.join('\n'))
  assert.deepEqual(
    report.failures.map((f) => `#${f.index} ${f.reason}`),
    [],
    lines.join('\n'),
  )
  // The run reached the handlers, not only the router: most served methods answered 2xx at least
  // once, and a healthy share of requests went through (a stalled run proves little).
  const answered = Object.values(report.byMethod).filter(([, ok]) => ok > 0).length
  assert.ok(answered >= Object.keys(report.byMethod).length * 0.6, `only ${answered} served methods ever answered 2xx`)
  assert.ok(report.sent >= Math.min(REQUESTS, 1000), `only ${report.sent} requests were sent in the time given`)
})
