// Run as a child process by test/storage/connection-memory.test.ts (`node --expose-gc --import tsx
// <this file> <count> <read-write|readonly> [scan-release|scan]`): opens <count> connections with
// openDb (read-write, as a store opens for a write, or read-only, as for a read) on copies of one
// actor store of 1,500 blocks, and prints as JSON the anonymous memory (RssAnon) they added per
// connection, with each kind's cache_size setting. Each connection reads one block, or with `scan`
// every block (~80 pages), then with `scan-release` frees its cache (releasePageCache). A process
// of its own, so that nothing else the test runner holds moves the reading.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateActorDb } from '../../src/actor/db.ts'
import { type Db, openDb, releasePageCache } from '../../src/storage/sqlite.ts'

const count = Number(process.argv[2] ?? 300)
const readonly = process.argv[3] === 'readonly'
const reads = process.argv[4] ?? 'one'
const BLOCKS = 1500
const dir = mkdtempSync(join(tmpdir(), 'hearth-conn-rss-'))
try {
  const template = join(dir, 'template.sqlite')
  const db = openDb(template)
  migrateActorDb(db)
  const put = db.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?)')
  db.transaction(() => {
    for (let i = 0; i < BLOCKS; i++) put.run(`bafyrei${randomBytes(26).toString('hex')}`, `rev${i}`, 200, randomBytes(200))
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  for (let i = 0; i < count; i++) copyFileSync(template, join(dir, `${i}.sqlite`))

  const anonKb = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1])
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const before = anonKb()
  const open: Db[] = []
  let released = 0
  for (let i = 0; i < count; i++) {
    const conn = openDb(join(dir, `${i}.sqlite`), { readonly })
    if (reads === 'one') conn.prepare('SELECT "content" FROM repo_block WHERE "repoRev" = ?').pluck().get(`rev${i % BLOCKS}`)
    else if (conn.prepare('SELECT count(*) FROM repo_block WHERE length("content") = 200').pluck().get() !== BLOCKS) throw new Error('scan')
    if (reads === 'scan-release' && releasePageCache(conn)) released++
    open.push(conn)
  }
  gc?.()
  const after = anonKb()
  const readOnly = openDb(join(dir, '0.sqlite'), { readonly: true })
  console.log(
    JSON.stringify({
      perConnectionKb: (after - before) / count,
      released,
      cacheSize: open[0]?.pragma('cache_size', { simple: true }),
      readOnlyCacheSize: readOnly.pragma('cache_size', { simple: true }),
      // A read after the release answers as before.
      blocksAfter: open[0]?.prepare('SELECT count(*) FROM repo_block').pluck().get(),
    }),
  )
  readOnly.close()
  for (const conn of open) conn.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
