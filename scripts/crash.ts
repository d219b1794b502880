// npm run crash -- [--cycles N] [--seed N]
//
// Writers on several accounts, kill -9 of the Hearth process at random moments, restart on the
// same data directory; checks that no acknowledged write is lost, every repo verifies and the
// firehose has no gap (test/crash/crash.ts). Prints the figures; exits 1 on any problem.
import { formatCrashReport, runCrash } from '../test/crash/crash.ts'

function num(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const raw = i !== -1 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} takes a whole number, not ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const report = await runCrash({ seed: num('seed', Math.floor(Math.random() * 2 ** 31)), cycles: num('cycles', 10) })
for (const line of formatCrashReport(report)) console.log(line)
process.exit(report.problems.length === 0 ? 0 : 1)
