// The progress lines of long CLI copies: throttled, with items, bytes, share and time left.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { duration, progressReporter } from '../../src/cli/progress.ts'

test('progress prints at most once per interval, with share and time left, then the totals', () => {
  const lines: string[] = []
  let t = 0
  const p = progressReporter({ out: () => {}, err: (l) => lines.push(l) }, 'backup', { intervalMs: 1000, now: () => t })
  const MB = 1024 * 1024
  t = 500
  p.update({ items: 10, bytes: 10 * MB, totalBytes: 100 * MB })
  assert.equal(lines.length, 0, 'nothing before the first interval')
  t = 10_000
  p.update({ items: 25, bytes: 25 * MB, totalBytes: 100 * MB })
  assert.deepEqual(lines, ['backup: 25 items, 25.0 of 100.0 MB (25%), about 0:30 left\n'])
  t = 10_500
  p.update({ items: 26, bytes: 26 * MB, totalBytes: 100 * MB })
  assert.equal(lines.length, 1, 'throttled')
  t = 40_000
  p.update({ items: 100, bytes: 100 * MB, totalBytes: 100 * MB })
  p.done()
  assert.equal(lines.at(-1), 'backup: 100 items, 100.0 MB in 0:40\n')
  assert.equal(duration(3_725_000), '1:02:05')
})
