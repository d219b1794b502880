// returnFreedMemory (src/storage/free-memory.ts) hands the pages inside free chunks of glibc's
// heaps back to the system: measured in a child process (test/helpers/freed-memory-rss.ts) that
// frees ~115 MB in holes under a kept top, which glibc alone keeps resident.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const child = fileURLToPath(new URL('../helpers/freed-memory-rss.ts', import.meta.url))
const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime
const skip = (process.platform !== 'linux' || !glibc) && 'malloc_trim is glibc’s, and the reading is /proc’s (Linux with glibc only)'

interface Reading {
  freed: number
  first: boolean
  afterFirst: number
  second: boolean
  afterSecond: number
  intact: boolean
}

test('free memory in the middle of the heap goes back to the system; live memory is untouched', { skip }, () => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', child], {
    encoding: 'utf8',
    env: { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' },
  })
  const r = JSON.parse(out.trim().split('\n').pop() as string) as Reading
  assert.equal(r.first, true, 'the first call released memory')
  // glibc keeps the ~115 MB resident by itself (the top is in use); the call leaves the kept 2.4 MB.
  assert.ok(r.freed - r.afterFirst > 80, `RssAnon ${r.freed.toFixed(1)} → ${r.afterFirst.toFixed(1)} MB`)
  assert.ok(r.afterSecond - r.afterFirst < 5, `a second call changed RssAnon ${r.afterFirst.toFixed(1)} → ${r.afterSecond.toFixed(1)} MB`)
  assert.equal(typeof r.second, 'boolean')
  assert.equal(r.intact, true, 'the buffers still in use kept their bytes')
})
