// The crash test in CI: three kill -9 cycles of a Hearth process under write load on several
// accounts (`npm run crash` runs ten or more). No acknowledged write may be lost, every repo must
// verify with @atproto/repo, and the firehose must replay without a gap; the message lists each
// problem. CRASH_SEED picks another seed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatCrashReport, runCrash } from './crash.ts'

const SEED = Number(process.env.CRASH_SEED ?? 20240602)

test(`kill -9 under write load, restart: nothing acknowledged is lost, repos verify, the firehose has no gap (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
  const report = await runCrash({ seed: SEED, cycles: 3, log: (line) => t.diagnostic(line) })
  const lines = formatCrashReport(report)
  for (const line of lines) t.diagnostic(line)
  assert.deepEqual(report.problems, [], lines.join('\n'))
  assert.equal(report.cycles, 3)
  // The run did something worth checking: writes were acknowledged, some were cut off by a kill,
  // and every account's repo and every commit event was examined.
  assert.ok(report.acknowledged >= 50, `only ${report.acknowledged} writes were acknowledged`)
  assert.ok(report.inFlight >= 1, 'no write was in flight at any kill')
  assert.equal(report.reposVerified, 4)
  assert.ok(report.commits >= report.acknowledged, `${report.commits} commit events for ${report.acknowledged} acknowledged writes`)
})
