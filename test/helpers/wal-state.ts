// How full a SQLite database's write-ahead log is, read from its files as they are on disk (no
// connection): for tests and benchmarks that count the frames commits write.
import { closeSync, openSync, readSync } from 'node:fs'

/**
 * Frames in the WAL now (the WAL-index header's mxFrame) and how many times it was started again
 * (the WAL header's checkpoint sequence); zeros when the database has no WAL files yet.
 */
export function walState(db: string): { frames: number; restarts: number } {
  const buf = Buffer.alloc(24)
  let fd: number
  try {
    fd = openSync(`${db}-shm`, 'r')
  } catch {
    return { frames: 0, restarts: 0 }
  }
  readSync(fd, buf, 0, 24, 0)
  closeSync(fd)
  const frames = buf.readUInt32LE(16)
  try {
    fd = openSync(`${db}-wal`, 'r')
  } catch {
    return { frames: 0, restarts: 0 }
  }
  readSync(fd, buf, 0, 16, 0)
  closeSync(fd)
  return { frames, restarts: buf.readUInt32BE(12) }
}
