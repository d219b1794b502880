// Locates the shared interop vectors that sit beside the repository on the development machine
// (../shared/interop-tests). A user's clone has no such folder: tests that need it pass
// `{ skip: sharedSkip }` so the run reports them as skipped with the reason, not as passing.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// Resolved from this file, not from the cwd, so a test run from any directory finds the same folder.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const CANDIDATE = join(REPO_ROOT, '..', 'shared', 'interop-tests')

export const SHARED_DIR: string | null = existsSync(CANDIDATE) ? CANDIDATE : null

export const sharedSkip: string | false =
  SHARED_DIR === null ? "../shared/interop-tests is absent (a user's clone): shared interop vectors not run" : false

function sharedPath(relPath: string): string {
  if (SHARED_DIR === null) throw new Error(`cannot read ${relPath}: ../shared/interop-tests is absent`)
  return join(SHARED_DIR, relPath)
}

export function readShared(relPath: string): string {
  return readFileSync(sharedPath(relPath), 'utf8')
}

export function readSharedJson<T = unknown>(relPath: string): T {
  return JSON.parse(readShared(relPath)) as T
}
