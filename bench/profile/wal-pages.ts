// `node --import tsx bench/profile/wal-pages.ts [commits] [warm] [batch]`: which B-trees a
// commit's WAL frames belong to, in process (no HTTP). Commits `warm` posts through
// commitPrepared (a settled store), checkpoints the store's and the event log's WAL to empty,
// then commits `commits` more (each an applyWrites-like batch of `batch` posts, default 1) and
// reads the frames back from each WAL file: per commit, how many frames, and of which table or
// index (SQLite's dbstat maps each page number to its B-tree; page 1 is the file header, and a
// page dbstat does not list is on the freelist). HEARTH_TREE names another checkout.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commitHost, postingAccount } from './commit-host.ts'

const ROOT = resolve(process.env.HEARTH_TREE ?? fileURLToPath(new URL('../..', import.meta.url)))
const N = Number(process.argv[2] ?? 50)
const WARM = Number(process.argv[3] ?? 3000)
const BATCH = Number(process.argv[4] ?? 1)
const host = await commitHost(ROOT, 'hearth-wal-pages-')
const { load, dir } = host
const { openDb } = await load('src/storage/sqlite.ts')
const { store, commit } = await postingAccount(host, 'did:plc:benchwalpages0000000')

/** Frames of a WAL file, in order: [page number, is the last frame of a commit]. */
function walFrames(path: string): Array<[number, boolean]> {
  const wal = readFileSync(path)
  if (wal.length < 32) return []
  const pageSize = wal.readUInt32BE(8)
  const out: Array<[number, boolean]> = []
  for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) out.push([wal.readUInt32BE(off), wal.readUInt32BE(off + 4) !== 0])
  return out
}

const dbs: Record<string, string> = { 'store.sqlite': store.dbPath as string, 'sequencer.sqlite': join(dir, 'sequencer.sqlite') }
for (let i = 0; i < WARM; i += BATCH) await commit(BATCH)
for (const p of Object.values(dbs)) {
  const db = openDb(p)
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}
for (let i = 0; i < N; i++) await commit(BATCH)
for (const [name, p] of Object.entries(dbs)) {
  const db = openDb(p, { readonly: true })
  const owner = new Map<number, string>()
  for (const r of db.prepare('SELECT "name", "pageno" FROM dbstat').all() as Array<{ name: string; pageno: number }>) owner.set(r.pageno, r.name)
  db.close()
  const frames = walFrames(`${p}-wal`)
  const commits = frames.filter(([, c]) => c).length
  const byTree = new Map<string, number>()
  for (const [page] of frames) {
    const tree = page === 1 ? '(page 1: header, schema)' : (owner.get(page) ?? '(freelist)')
    byTree.set(tree, (byTree.get(tree) ?? 0) + 1)
  }
  console.log(`${name}: ${frames.length} frames in ${commits} commits, ${(frames.length / commits).toFixed(1)} per commit (of ${BATCH} post${BATCH === 1 ? '' : 's'})`)
  for (const [tree, n] of [...byTree].sort((a, b) => b[1] - a[1])) console.log(`  ${(n / commits).toFixed(2).padStart(6)}  ${tree}`)
}
