// `node --import tsx bench/profile/checkpoint-wall.ts [rounds]`: what a WAL checkpoint of the
// write path's size costs the thread that runs it, in wall time and in CPU. A WAL database with
// the write path's settings (WAL, synchronous=NORMAL) and 20,000 rows gets, per round, 120
// transactions of 15 random-key upserts (~2,800 WAL frames, about what a busy store holds at its
// 4,000-page auto-checkpoint), then one PASSIVE checkpoint, timed. Every other round first syncs
// the WAL file itself (fdatasync, timed apart): what is left of the checkpoint's wall time is
// then its copy and the database file's sync (the sync's own CPU is printed beside its time).
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const rounds = Number(process.argv[2] ?? 8)
const dir = mkdtempSync(join(tmpdir(), 'hearth-checkpoint-wall-'))
const path = join(dir, 'wal.sqlite')
const db = new Database(path)
try {
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0')
  db.exec('CREATE TABLE t ("k" TEXT PRIMARY KEY, "v" BLOB)')
  const put = db.prepare('INSERT OR REPLACE INTO t VALUES (?, ?)')
  for (let i = 0; i < 20_000; i++) put.run(randomBytes(16).toString('hex'), randomBytes(300))
  db.pragma('wal_checkpoint(TRUNCATE)')
  const commit = db.transaction(() => {
    for (let j = 0; j < 15; j++) put.run(randomBytes(16).toString('hex'), randomBytes(300))
  })
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 120; i++) commit()
    const presync = r % 2 === 1
    let syncMs = 0
    let syncCpu = 0
    if (presync) {
      const fd = openSync(`${path}-wal`, 'r')
      const t0 = performance.now()
      const c0 = process.cpuUsage()
      fdatasyncSync(fd)
      const u0 = process.cpuUsage(c0)
      syncCpu = (u0.user + u0.system) / 1000
      syncMs = performance.now() - t0
      closeSync(fd)
    }
    const t = performance.now()
    const c = process.cpuUsage()
    const [res] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>
    const u = process.cpuUsage(c)
    const wall = performance.now() - t
    console.log(
      `round ${r}: ${presync ? `WAL synced first (${syncMs.toFixed(2)} ms, CPU ${syncCpu.toFixed(2)} ms), then` : 'plain:'} checkpoint of ${res?.log} frames, ` +
        `wall ${wall.toFixed(2)} ms, CPU ${((u.user + u.system) / 1000).toFixed(2)} ms`,
    )
  }
} finally {
  db.close()
  rmSync(dir, { recursive: true, force: true })
}
