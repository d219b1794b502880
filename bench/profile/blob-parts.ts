// `node --max-semi-space-size=2 --import tsx bench/profile/blob-parts.ts [uploads]`: the CPU of
// each part of a 1 MiB upload's own work, in process (process.cpuUsage(), every thread), on 1 MiB
// of incompressible bytes cut in 29 chunks of 36 KiB as an HTTP body arrives: the sha-256, the
// MIME sniffer, a PassThrough + async iterator (the body's stream plumbing), and putTemp of the
// disk store (which does all of them, writes the file and fsyncs it and its folder). The parts
// take turns, ROUNDS times; the median per upload is printed.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { DiskBlobStore } from '../../src/blob/disk-store.ts'
import { MimeSniffer } from '../../src/blob/sniff.ts'

const N = Number(process.argv[2] ?? 200)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const CHUNK = 36 * 1024
const DID = 'did:plc:blobpartsbenchaaaaaaaaaaa'
const dir = mkdtempSync(join(tmpdir(), 'blob-parts-'))
const store = new DiskBlobStore({ location: dir })

function body(): Buffer[] {
  const bytes = randomBytes(1024 * 1024)
  const out: Buffer[] = []
  for (let o = 0; o < bytes.length; o += CHUNK) out.push(bytes.subarray(o, o + CHUNK))
  return out
}

const parts: Record<string, (chunks: Buffer[]) => Promise<unknown>> = {
  sha256: async (chunks) => {
    const h = createHash('sha256')
    for (const c of chunks) h.update(c)
    return h.digest()
  },
  sniff: async (chunks) => {
    const s = new MimeSniffer()
    for (const c of chunks) {
      const p = s.push(c)
      if (p) await p
    }
    return s.finish()
  },
  'stream + iterator': async (chunks) => {
    const t = new PassThrough()
    const feed = Readable.from(chunks)
    feed.pipe(t)
    let n = 0
    for await (const c of t) n += (c as Buffer).length
    return n
  },
  putTemp: async (chunks) => store.putTemp(DID, Readable.from(chunks)),
}

const results: Record<string, number[]> = {}
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of Object.entries(parts)) {
      const bodies = Array.from({ length: N }, body)
      const c0 = process.cpuUsage()
      for (const b of bodies) await run(b)
      const c = process.cpuUsage(c0)
      ;(results[name] ??= []).push((c.user + c.system) / 1000 / N)
    }
    await store.deleteAll(DID)
  }
  for (const [name, xs] of Object.entries(results)) {
    const sorted = [...xs].sort((a, b) => a - b)
    console.log(`${name}: median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} ms/upload (${sorted[0].toFixed(3)}–${sorted.at(-1)?.toFixed(3)})`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
