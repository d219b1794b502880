// `node --import tsx bench/profile/blob-ab.ts <tree> [<tree> ...] [official]`: uploadBlob of
// 1 MiB, before/after. Each <tree> is a checkout with its bundle built (`npm run build` in it);
// its dist/hearth.mjs is started as `npm start` runs it (same node flags and allocator settings),
// `official` starts the official 0.5.35. Then rounds of BLOB_N uploads (distinct incompressible
// bytes) go to each server in turn, BLOB_ROUNDS times, so that a load change on a shared machine
// falls on every server alike. Per round and server: server CPU per upload (user + system from
// /proc/<pid>/stat, and the main thread's own share) and MB/s; then the median of the rounds.
import { join, resolve } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { BENCH_SECRETS, startHearthTree, startOfficialProcess } from '../server/processes.ts'
import { blobBodies, procCpuMs as cpu } from './blob-bodies.ts'

const ROUNDS = Number(process.env.BLOB_ROUNDS ?? 6)
const N = Number(process.env.BLOB_N ?? 30)
const SIZE = 1024 * 1024
const blob = blobBodies('blob-ab', SIZE)

interface Server {
  name: string
  url: string
  pid: number
  stop(): Promise<void>
}

const plc = await startReferencePlc()
const servers: Server[] = []
try {
  for (const arg of process.argv.slice(2)) {
    if (arg === 'official') {
      const p = await startOfficialProcess(plc.url, BENCH_SECRETS, {}, '0.5.35')
      servers.push({ name: 'official 0.5.35', url: p.url, pid: p.pid, stop: p.stop })
      continue
    }
    const tree = resolve(arg)
    const p = await startHearthTree(tree, plc.url)
    servers.push({ name: tree, url: p.url, pid: p.pid, stop: p.stop })
  }
  const accounts = []
  for (const [i, s] of servers.entries()) {
    const client = xrpcClient(s.url)
    const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
      json: { handle: `blobab${i}.pds.bench.test`, email: `blobab${i}@bench.test`, password: 'password-blob-ab' },
    })) as { did: string; accessJwt: string }
    // Warm-up: the JIT and the lazily loaded sniffer of a fresh process are not what is measured.
    for (let w = 0; w < 10; w++) await client.call('POST', 'com.atproto.repo.uploadBlob', { token: acct.accessJwt, body: blob() })
    accounts.push({ client, token: acct.accessJwt })
  }
  const rows = servers.map(() => [] as Array<{ cpu: number; user: number; sys: number; main: number; mbps: number }>)
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, s] of servers.entries()) {
      const { client, token } = accounts[i]
      const bodies = Array.from({ length: N }, blob)
      const [u0, s0] = cpu(`/proc/${s.pid}/stat`)
      const [mu0, ms0] = cpu(`/proc/${s.pid}/task/${s.pid}/stat`)
      const t0 = performance.now()
      for (const body of bodies) await client.call('POST', 'com.atproto.repo.uploadBlob', { token, body, contentType: 'application/octet-stream' })
      const ms = performance.now() - t0
      const [u1, s1] = cpu(`/proc/${s.pid}/stat`)
      const [mu1, ms1] = cpu(`/proc/${s.pid}/task/${s.pid}/stat`)
      rows[i].push({
        cpu: (u1 - u0 + s1 - s0) / N,
        user: (u1 - u0) / N,
        sys: (s1 - s0) / N,
        main: (mu1 - mu0 + ms1 - ms0) / N,
        mbps: (N * SIZE) / 1048576 / (ms / 1000),
      })
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  for (const [i, s] of servers.entries()) {
    const rs = rows[i]
    console.log(s.name)
    console.log(`  rounds, ms CPU/upload (user+sys, main thread) and MB/s: ${rs.map((x) => `${x.cpu.toFixed(2)} (${x.user.toFixed(2)}+${x.sys.toFixed(2)}, ${x.main.toFixed(2)}) ${x.mbps.toFixed(0)}`).join(' | ')}`)
    console.log(`  median: ${median(rs.map((x) => x.cpu)).toFixed(2)} ms CPU/upload (user ${median(rs.map((x) => x.user)).toFixed(2)}, sys ${median(rs.map((x) => x.sys)).toFixed(2)}, main thread ${median(rs.map((x) => x.main)).toFixed(2)}), ${median(rs.map((x) => x.mbps)).toFixed(0)} MB/s`)
  }
  for (const { client } of accounts) client.close()
} finally {
  for (const s of servers) await s.stop()
  await plc.close()
}
