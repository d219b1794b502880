// `node --max-semi-space-size=2 bench/profile/blob-floor.mjs <full|nodir|nosync|nofs>`: what a
// bare node:http server costs to take a 1 MiB upload, for comparison with uploadBlob: no auth, no
// database, no mime sniffing, no Hearth code. `full` does the durable work Hearth does (sha256 of
// the body, 256 KiB writes to a new file, fsync of the file, then of its folder); `nodir` skips
// the folder's fsync, `nosync` both fsyncs, `nofs` the file. A client in a child process sends
// 6 rounds of 30 uploads (distinct incompressible bytes, one at a time, keep-alive); the server's
// CPU per upload (process.cpuUsage: every thread of the process) and the uploads' MiB/s (wall time
// from the round's first upload sent to its last answered) are printed per round.
// Run it as `npm start` runs Hearth for a like-for-like figure:
//   MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 bench/profile/blob-floor.mjs full
import { fork } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROUNDS = 6
const PER_ROUND = 30
const mode = process.argv[2] ?? 'full'

if (process.argv[2] === 'client') {
  const port = Number(process.argv[3])
  const agent = new http.Agent({ keepAlive: true })
  let made = 0
  const blob = () => {
    const out = Buffer.alloc(1 << 20)
    let block = createHash('sha256').update(`floor ${made++}`).digest()
    for (let o = 0; o < out.length; o += 32) {
      block.copy(out, o)
      block = createHash('sha256').update(block).digest()
    }
    return out
  }
  const upload = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/', method: 'POST', agent, headers: { 'content-length': body.length, 'content-type': 'application/octet-stream' } },
        (res) => {
          res.resume()
          res.on('end', resolve)
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  const next = () => new Promise((resolve) => process.once('message', resolve))
  for (let r = 0; r < ROUNDS; r++) {
    const bodies = Array.from({ length: PER_ROUND }, blob)
    process.send('start')
    await next()
    for (const body of bodies) await upload(body)
    process.send('end')
    await next()
  }
  agent.destroy()
  process.exit(0)
}

if (!['full', 'nodir', 'nosync', 'nofs'].includes(mode)) throw new Error(`unknown mode ${mode}: full, nodir, nosync or nofs`)
const dir = await fsp.mkdtemp(join(tmpdir(), 'blob-floor-'))
const server = http.createServer(async (req, res) => {
  const hash = createHash('sha256')
  const file = join(dir, randomBytes(16).toString('hex'))
  const handle = mode === 'nofs' ? null : await fsp.open(file, 'wx')
  let batch = []
  let batchBytes = 0
  for await (const chunk of req) {
    hash.update(chunk)
    if (!handle) continue
    batch.push(chunk)
    batchBytes += chunk.length
    if (batchBytes >= 256 * 1024) {
      await handle.writev(batch)
      batch = []
      batchBytes = 0
    }
  }
  if (handle) {
    if (batch.length > 0) await handle.writev(batch)
    if (mode !== 'nosync') await handle.sync()
    await handle.close()
    if (mode === 'full') {
      const folder = await fsp.open(dir, 'r')
      await folder.sync()
      await folder.close()
    }
  }
  const body = JSON.stringify({ blob: { $type: 'blob', ref: { $link: hash.digest('hex') }, mimeType: 'application/octet-stream', size: 1 << 20 } })
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
  if (handle) await fsp.rm(file)
})
server.keepAliveTimeout = 120_000
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const client = fork(new URL(import.meta.url).pathname, ['client', String(server.address().port)], { execArgv: [] })
const rounds = []
let start
let startedAt = 0
client.on('message', (m) => {
  if (m === 'start') {
    start = process.cpuUsage()
    startedAt = performance.now()
  } else {
    const c = process.cpuUsage(start)
    const mbps = PER_ROUND / ((performance.now() - startedAt) / 1000)
    rounds.push(`${((c.user + c.system) / PER_ROUND / 1000).toFixed(2)} (${(c.user / PER_ROUND / 1000).toFixed(2)}+${(c.system / PER_ROUND / 1000).toFixed(2)}) ${mbps.toFixed(0)} MB/s`)
  }
  client.send('go')
})
await new Promise((resolve) => client.once('exit', resolve))
server.close()
await fsp.rm(dir, { recursive: true, force: true })
console.log(`${mode}: ms CPU per upload (user+sys) and MiB/s, per round: ${rounds.join(' | ')}`)
