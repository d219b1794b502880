// What an open SQLite connection holds, with thousands of actor stores open at once (measured in
// a child process, test/helpers/open-connections-rss.ts). SQLite's page cache takes 20 pages
// (~88 KB) in one allocation when it first fetches a page under a limit of 3 pages or more,
// whatever the connection will read; openDb sets the limit only once a page is cached, so pages
// are allocated as they are read (src/storage/sqlite.ts): a connection that read one block adds
// ~95–100 KB of anonymous memory this way, ~160 KB with the allocation. releasePageCache frees
// what a connection has cached (the idle sweep's, src/actor/manager.ts) without bringing that
// allocation back.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PAGE_CACHE_KIB } from '../../src/storage/sqlite.ts'

const child = fileURLToPath(new URL('../helpers/open-connections-rss.ts', import.meta.url))
const skip = process.platform !== 'linux' && 'reads RssAnon from /proc/self/status (Linux only)'

interface Reading {
  perConnectionKb: number
  released: number
  cacheSize: number
  readOnlyCacheSize: number
  blocksAfter: number
}

function measure(...args: string[]): Reading {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, '300', ...args], {
    encoding: 'utf8',
    env: { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' },
  })
  const reading = JSON.parse(out.trim().split('\n').pop() as string) as Reading
  assert.equal(reading.cacheSize, -PAGE_CACHE_KIB)
  assert.equal(reading.readOnlyCacheSize, -PAGE_CACHE_KIB)
  assert.equal(reading.blocksAfter, 1500)
  return reading
}

for (const mode of ['read-write', 'readonly'] as const) {
  test(`an open ${mode} connection holds no page-cache allocation beyond the pages it read, and keeps its cache size`, { skip }, () => {
    const { perConnectionKb } = measure(mode, 'one')
    assert.ok(perConnectionKb < 125, `each open connection added ${perConnectionKb.toFixed(1)} KB of anonymous memory (~160 with the page cache's first allocation, ~100 without)`)
  })
}

test('releasePageCache frees what a connection cached, keeps its cache size, and it reads on', { skip }, () => {
  const scanned = measure('read-write', 'scan')
  const released = measure('read-write', 'scan-release')
  assert.equal(released.released, 300)
  // ~80 pages of 4 KiB each, cached by the scan: ~540 KB a connection kept, ~80 released.
  assert.ok(scanned.perConnectionKb > 300, `a scan left ${scanned.perConnectionKb.toFixed(1)} KB per connection`)
  assert.ok(released.perConnectionKb < 125, `a released connection kept ${released.perConnectionKb.toFixed(1)} KB`)
})
