// What an open SQLite connection holds, with thousands of actor stores open at once. SQLite's page
// cache takes 20 pages (~88 KB) in one allocation when it first fetches a page under a limit of
// 3 pages or more, whatever the connection will read; openDb sets the limit only once a page is
// cached, so pages are allocated as they are read (src/storage/sqlite.ts). Measured in a child
// process: a connection that has read a few pages adds ~100 KB of anonymous memory this way and
// ~160 KB with the allocation.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PAGE_CACHE_KIB } from '../../src/storage/sqlite.ts'

const child = fileURLToPath(new URL('../helpers/open-connections-rss.ts', import.meta.url))

for (const mode of ['read-write', 'readonly'] as const) {
  test(`an open ${mode} connection holds no page-cache allocation beyond the pages it read, and keeps its cache size`, { skip: process.platform !== 'linux' && 'reads RssAnon from /proc/self/status (Linux only)' }, () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, '300', mode], {
      encoding: 'utf8',
      env: { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' },
    })
    const result = JSON.parse(out.trim().split('\n').pop() as string) as { perConnectionKb: number; cacheSize: number; readOnlyCacheSize: number }
    assert.equal(result.cacheSize, -PAGE_CACHE_KIB)
    assert.equal(result.readOnlyCacheSize, -PAGE_CACHE_KIB)
    assert.ok(result.perConnectionKb < 125, `each open connection added ${result.perConnectionKb.toFixed(1)} KB of anonymous memory (~160 with the page cache's first allocation, ~100 without)`)
  })
}
