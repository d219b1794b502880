// How many actor stores may stay open at once by default, from the process's open-file limit.
// An open store holds three descriptors (the database, its WAL and its shared-memory index) and
// ~130 KB once idle (SQLite's connection, its schema, the 32 KB index mapping; the statements
// and pages it uses on top, which the manager's idle sweep frees); reopening one costs far more
// than a warm request (the WAL index rebuilt, the schema read again), so a host keeps as many open
// as the limit comfortably allows, leaving a quarter of the descriptors for sockets, blobs and the
// other databases.
import { readFileSync } from 'node:fs'

const FLOOR = 100
const CEILING = 2500

export function defaultActorStoreCacheSize(limitsPath = '/proc/self/limits'): number {
  const soft = softOpenFileLimit(limitsPath)
  if (soft === null) return FLOOR
  return Math.max(FLOOR, Math.min(CEILING, Math.floor((soft * 0.75 - 256) / 3)))
}

function softOpenFileLimit(limitsPath: string): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limitsPath, 'utf8'))
    if (!m) return null
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1])
  } catch {
    return null
  }
}
