// Hearth's version, read from its package.json. The file is found by walking up from this
// module rather than by a fixed relative path, because the same code runs from src/ (through
// tsx) and from the one-file bundle in dist/ that `npm start` builds.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | null = null

export function hearthVersion(): string {
  if (cached !== null) return cached
  cached = '0.0.0'
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
        if (pkg.name === 'hearth-pds') {
          cached = pkg.version ?? cached
          break
        }
      } catch {
        // an unreadable package.json on the way up is not ours
      }
    }
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return cached
}
