// What the blob before/after tools (blob-ab.ts, blob-core.ts, s3-ab.ts) share: the bodies they
// upload and the server CPU they read. The bodies are a sha256 chain: no layer can compress or
// deduplicate them, each is distinct, and a run uploads the same bytes as the run before it.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

const TICK_MS = 10

/** A maker of distinct incompressible bodies of `size` bytes, seeded by `label` and a count. */
export function blobBodies(label: string, size = 1024 * 1024): () => Buffer {
  let made = 0
  return () => {
    const out = Buffer.alloc(size)
    let block = createHash('sha256').update(`${label} ${made++}`).digest()
    for (let o = 0; o < out.length; o += 32) {
      block.copy(out, o)
      block = createHash('sha256').update(block).digest()
    }
    return out
  }
}

/**
 * [user ms, system ms] of a process (`/proc/<pid>/stat`) or of one of its threads
 * (`/proc/<pid>/task/<tid>/stat`). The clock ticks are 10 ms.
 */
export function procCpuMs(statPath: string): [number, number] {
  const stat = readFileSync(statPath, 'utf8')
  // The fields after the command name, which may hold spaces and ends at the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [Number(f[11]) * TICK_MS, Number(f[12]) * TICK_MS]
}
