// `node --import tsx bench/profile/http-floor.ts [requests] [rounds]`: the floor of a
// createRecord over HTTP on this machine, what node's HTTP costs with nothing behind it. Starts
// a bare `node:http` server in its own process that reads a JSON POST body, parses it and
// answers ~150 bytes of JSON (the size of a createRecord's answer), then drives it with the
// bench's own client, sequentially over one keep-alive connection, sending the same ~300-byte
// body and Bearer header as a createRecord. Prints the server's CPU per request from
// /proc/<pid>/stat per round. Whatever a createRecord costs beyond this and the commit itself
// (bench/profile/commit.ts) is Hearth's request path.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { xrpcClient } from '../server/client.ts'
import { freePort, readCpuMs } from '../server/processes.ts'

const N = Number(process.argv[2] ?? 3000)
const rounds = Number(process.argv[3] ?? 5)

const SERVER = `
const http = require('node:http')
const answer = JSON.stringify({
  uri: 'at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3lbcdefghijk2',
  cid: 'bafyreihg5pumbwq3ehkr3dktqjvpsoaimcmyd4cq4e5nkqgfqk3ypxq2oe',
  commit: { cid: 'bafyreihg5pumbwq3ehkr3dktqjvpsoaimcmyd4cq4e5nkqgfqk3ypxq2oe', rev: '3lbcdefghijk2' },
  validationStatus: 'valid',
})
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (typeof body.repo !== 'string') { res.statusCode = 400; res.end(); return }
    res.setHeader('Content-Type', 'application/json; charset=utf-8')
    res.setHeader('Content-Length', Buffer.byteLength(answer))
    res.end(answer)
  })
})
server.keepAliveTimeout = 90000
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.send('ready'))
`

const port = await freePort()
const child = spawn(process.execPath, ['-e', SERVER, String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
await once(child, 'message')
const client = xrpcClient(`http://127.0.0.1:${port}`)
const did = 'did:plc:abcdefghijklmnopqrstuvwx'
const token = 'eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJIUzI1NiJ9.' + 'x'.repeat(260) + '.' + 'y'.repeat(43)
let k = 0
const send = async (n: number) => {
  for (let i = 0; i < n; i++, k++) {
    await client.call('POST', 'com.atproto.repo.createRecord', {
      token,
      json: {
        repo: did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: `profile post ${k}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() },
      },
    })
  }
}
try {
  await send(1000)
  const per: number[] = []
  for (let r = 0; r < rounds; r++) {
    const c0 = readCpuMs(child.pid as number) as number
    const t0 = performance.now()
    await send(N)
    const ms = performance.now() - t0
    const c1 = readCpuMs(child.pid as number) as number
    per.push((c1 - c0) / N)
    console.log(`round ${r}: ${N} POSTs, ${((N * 1000) / ms).toFixed(0)}/s, server CPU ${((c1 - c0) / N).toFixed(3)} ms per request`)
  }
  per.sort((a, b) => a - b)
  console.log(`bare node:http: median ${per[Math.floor(per.length / 2)].toFixed(3)} ms, min ${per[0].toFixed(3)}, max ${per[per.length - 1].toFixed(3)}`)
} finally {
  client.close()
  child.kill()
}
