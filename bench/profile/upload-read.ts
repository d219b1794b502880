// `node --import tsx bench/profile/upload-read.ts <tree> <tree>`: CPU of reading a 1 MiB upload
// body into a temp blob, in process, through each source tree's own router body stream
// (src/xrpc/body.ts) and DiskBlobStore.putTemp (src/blob/disk-store.ts), over loopback HTTP
// from a client in the same process (its share is the same for both trees). The trees take
// turns, ROUNDS times, UPLOADS uploads each; printed: the median and range of CPU per upload
// (process.cpuUsage(), user + system, every thread: the writes run on the thread pool).
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'

const ROUNDS = Number(process.env.ROUNDS ?? 10)
const UPLOADS = Number(process.env.UPLOADS ?? 100)
const SIZE = 1024 * 1024
const trees = process.argv.slice(2).map((t) => path.resolve(t))
if (trees.length === 0) throw new Error('give one or more source trees')

interface Side {
  tree: string
  read: (req: http.IncomingMessage) => Promise<unknown>
  dir: string
  cpu: number[]
}

const sides: Side[] = []
for (const tree of trees) {
  const { limitedBodyStream } = await import(path.join(tree, 'src/xrpc/body.ts'))
  const { DiskBlobStore } = await import(path.join(tree, 'src/blob/disk-store.ts'))
  const dir = mkdtempSync(path.join(tmpdir(), 'hearth-upload-read-'))
  const store = new DiskBlobStore({ location: path.join(dir, 'blocks') })
  const did = 'did:plc:uploadreadbench'
  const read = async (req: http.IncomingMessage) => {
    const body = limitedBodyStream(req, 5 * SIZE) as Readable
    try {
      const temp = await store.putTemp(did, body, { maxSize: 5 * SIZE })
      await store.deleteTemp(did, temp.key)
      return temp
    } finally {
      body.destroy()
    }
  }
  sides.push({ tree, read, dir, cpu: [] })
}

let current = sides[0]!
const server = http.createServer((req, res) => {
  current.read(req).then(
    () => res.end('ok'),
    (err) => {
      res.statusCode = 500
      res.end(String(err))
    },
  )
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const port = (server.address() as { port: number }).port
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
let made = 0
function upload(): Promise<void> {
  const bytes = Buffer.alloc(SIZE, made++ % 251)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': SIZE } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`))
      res.resume()
      res.on('end', resolve)
    })
    req.on('error', reject)
    req.end(bytes)
  })
}

try {
  for (let round = -1; round < ROUNDS; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      current = side
      const before = process.cpuUsage()
      for (let i = 0; i < (round < 0 ? 10 : UPLOADS); i++) await upload()
      const used = process.cpuUsage(before)
      if (round >= 0) side.cpu.push((used.user + used.system) / UPLOADS / 1000)
    }
  }
  for (const side of sides) {
    const sorted = [...side.cpu].sort((a, b) => a - b)
    console.log(`${side.tree}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} ms per upload (${sorted[0]!.toFixed(3)}–${sorted.at(-1)!.toFixed(3)}); rounds ${side.cpu.map((c) => c.toFixed(3)).join(' ')}`)
  }
} finally {
  server.close()
  agent.destroy()
  for (const side of sides) rmSync(side.dir, { recursive: true, force: true })
}
