// Run as a child process by test/storage/connection-memory.test.ts (`node --expose-gc --import tsx
// <this file> <count> [readonly]`): opens <count> connections with openDb (read-write, as a store
// opens for a write, or read-only, as for a read) on copies of one actor store of a few hundred blocks, reads from each once, and prints as JSON
// the anonymous memory (RssAnon) they added per connection, with each kind's cache_size setting.
// A process of its own, so that nothing else the test runner holds moves the reading.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateActorDb } from '../../src/actor/db.ts'
import { type Db, openDb } from '../../src/storage/sqlite.ts'

const count = Number(process.argv[2] ?? 300)
const readonly = process.argv[3] === 'readonly'
const dir = mkdtempSync(join(tmpdir(), 'hearth-conn-rss-'))
try {
  const template = join(dir, 'template.sqlite')
  const db = openDb(template)
  migrateActorDb(db)
  const put = db.prepare('INSERT INTO repo_block ("cid", "repoRev", "size", "content") VALUES (?, ?, ?, ?)')
  db.transaction(() => {
    for (let i = 0; i < 300; i++) put.run(`bafyrei${randomBytes(26).toString('hex')}`, `rev${i}`, 200, randomBytes(200))
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  for (let i = 0; i < count; i++) copyFileSync(template, join(dir, `${i}.sqlite`))

  const anonKb = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1])
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const before = anonKb()
  const open: Db[] = []
  for (let i = 0; i < count; i++) {
    const conn = openDb(join(dir, `${i}.sqlite`), { readonly })
    conn.prepare('SELECT "content" FROM repo_block WHERE "repoRev" = ?').pluck().get(`rev${i % 300}`)
    open.push(conn)
  }
  gc?.()
  const after = anonKb()
  const readOnly = openDb(join(dir, '0.sqlite'), { readonly: true })
  console.log(
    JSON.stringify({
      perConnectionKb: (after - before) / count,
      cacheSize: open[0]?.pragma('cache_size', { simple: true }),
      readOnlyCacheSize: readOnly.pragma('cache_size', { simple: true }),
    }),
  )
  readOnly.close()
  for (const conn of open) conn.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
