// npm run fuzz -- [--seed N] [--requests N] [--seconds S] [--concurrency N] [--only INDEX]
//
// Fuzzes every XRPC method of a Hearth process (the bundle npm start runs) and prints the
// figures; exits 1 on any failure (a 5xx that is not an upstream's 502/504, the process
// exiting, the server left unhealthy). `--only INDEX` replays one request of a seed's run on a
// fresh server and prints the request, the response and Hearth's error log.
import { formatReport, reproduce, runFuzz } from '../test/fuzz/engine.ts'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  if (i !== -1) return process.argv[i + 1]
  const inline = process.argv.find((a) => a.startsWith(`--${name}=`))
  return inline?.slice(name.length + 3)
}

function num(name: string, fallback: number): number {
  const raw = arg(name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} takes a whole number, not ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const seed = num('seed', Math.floor(Math.random() * 2 ** 31))
const only = arg('only')

if (only !== undefined) {
  const ok = await reproduce(seed, num('only', 0))
  process.exit(ok ? 0 : 1)
}

const report = await runFuzz({
  seed,
  requests: num('requests', 5000),
  seconds: num('seconds', 600),
  concurrency: num('concurrency', 4),
  progressEvery: 5000,
})
for (const line of formatReport(report)) console.log(line)
process.exit(report.failures.length === 0 ? 0 : 1)
