// How full a SQLite database's write-ahead log is, read from its files as they are on disk (no
// connection): for tests and benchmarks that count the frames commits write.
import { closeSync, openSync, readSync } from 'node:fs'

/**
 * Frames in the WAL now (the WAL-index header's mxFrame) and how many times it was started again
 * (the WAL header's checkpoint sequence); zeros when the database has no WAL files yet.
 */
export function walState(db: string): { frames: number; restarts: number } {
  const index = fileHead(`${db}-shm`, 24)
  const wal = fileHead(`${db}-wal`, 16)
  if (index === null || wal === null) return { frames: 0, restarts: 0 }
  return { frames: index.readUInt32LE(16), restarts: wal.readUInt32BE(12) }
}

/** The first `bytes` bytes of a file, or null when it does not exist. */
function fileHead(path: string, bytes: number): Buffer | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    const buf = Buffer.alloc(bytes)
    readSync(fd, buf, 0, bytes, 0)
    return buf
  } finally {
    closeSync(fd)
  }
}
