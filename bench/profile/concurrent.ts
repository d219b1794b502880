// `node --import tsx bench/profile/concurrent.ts [clients] [requests] [rounds]`: starts Hearth
// (HEARTH_BIN: another checkout's bin/hearth.js), makes one account per client, and sends
// createRecords of a post from every client at once, each client on its own account, one request
// at a time over its own connection (the bench's "8 clients x 8 accounts" shape); prints the
// server's CPU per request from /proc/<pid>/stat and the throughput of each round after 400
// requests of warm-up.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { freePort, hearthEnv, readCpuMs, spawnPds } from '../server/processes.ts'
const BIN = process.env.HEARTH_BIN ?? 'bin/hearth.js'
const C = Number(process.argv[2] ?? 8), N = Number(process.argv[3] ?? 2000), R = Number(process.argv[4] ?? 3)
const dataDir = mkdtempSync(join(tmpdir(), 'w-conc-'))
const plc = await startReferencePlc()
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const { child, stop } = await spawnPds({ name: 'Hearth', args: [BIN, 'serve'], env: hearthEnv(port, dataDir, plc.url), url, timeoutMs: 60_000 })
const pid = child.pid as number
const cpuMs = () => readCpuMs(pid) ?? Number.NaN
const clients = Array.from({ length: C }, () => xrpcClient(url))
try {
  const accts: Array<{ did: string; accessJwt: string }> = []
  for (let i = 0; i < C; i++) accts.push((await (clients[0] as (typeof clients)[0]).call('POST', 'com.atproto.server.createAccount', { json: { handle: `conc${i}.pds.bench.test`, email: `c${i}@bench.test`, password: 'password-c' } })) as never)
  let k = 0
  const run = async (n: number) => {
    let left = n
    await Promise.all(clients.map(async (cl, i) => {
      const a = accts[i] as (typeof accts)[0]
      while (left-- > 0) {
        const record = { $type: 'app.bsky.feed.post', text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() }
        await cl.call('POST', 'com.atproto.repo.createRecord', { token: a.accessJwt, json: { repo: a.did, collection: 'app.bsky.feed.post', record } })
      }
    }))
  }
  await run(400)
  const out: string[] = []
  for (let r = 0; r < R; r++) { const c0 = cpuMs(), w0 = performance.now(); await run(N); out.push(`round ${r}: server CPU ${((cpuMs() - c0) / N).toFixed(3)} ms per request, ${(N * 1000 / (performance.now() - w0)).toFixed(0)}/s`) }
  console.log(out.join('\n'))
} finally { for (const c of clients) c.close(); await stop(); await plc.close(); rmSync(dataDir, { recursive: true, force: true }) }
