// `node --import tsx bench/profile/s3-ab.ts <tree> [<tree> ...] [official]`: the blob path on
// S3, before/after. One s3rver process (the tests' S3-compatible server, on loopback) with a
// bucket per server; each <tree> is a checkout with its bundle built (`npm run build` in it),
// started as `npm start` runs it with its blobs in its bucket; `official` starts the official
// 0.5.35 on its own bucket. Each server gets an account, a record referencing READ_BLOBS blobs
// of 1 MiB (so they are permanent), and a warm-up; then BLOB_ROUNDS rounds, each server in turn:
// BLOB_N uploadBlobs of 1 MiB (distinct incompressible bytes), then BLOB_N getBlobs of the
// permanent blobs. Per round and server: server CPU per op (user + system from /proc/<pid>/stat;
// s3rver's is not counted); then the median of the rounds. S3AB_ONLY=get or =upload runs one
// kind. S3AB_CPU_PROF=<dir> starts the Hearth trees with --cpu-prof into <dir>/<n>.
import { mkdirSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join, resolve } from 'node:path'
import { startS3 } from '../../test/helpers/s3.ts'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { BENCH_SECRETS, startHearthTree, startOfficialProcess } from '../server/processes.ts'
import { blobBodies, procCpuMs } from './blob-bodies.ts'

const ROUNDS = Number(process.env.BLOB_ROUNDS ?? 6)
const N = Number(process.env.BLOB_N ?? 30)
const ONLY = process.env.S3AB_ONLY
const PROF_DIR = process.env.S3AB_CPU_PROF
const SIZE = 1024 * 1024
const READ_BLOBS = 8
const blob = blobBodies('s3-ab', SIZE)
const cpu = (pid: number) => procCpuMs(`/proc/${pid}/stat`)

/** getBlob's answer is bytes: read them whole over a keep-alive agent. */
function getBytes(agent: Agent, url: URL): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => (bytes += c.length))
      res.on('error', reject)
      res.on('end', () => (res.statusCode === 200 ? resolvePromise(bytes) : reject(new Error(`getBlob: HTTP ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end()
  })
}

interface Server {
  name: string
  url: string
  pid: number
  stop(): Promise<void>
}

interface BlobRef {
  $type: 'blob'
  ref: { $link: string }
  mimeType: string
  size: number
}

const args = process.argv.slice(2)
const buckets = args.map((_, i) => `s3ab-${i}`)
const plc = await startReferencePlc()
const s3 = await startS3({ bucket: buckets[0], buckets: buckets.slice(1) })
const servers: Server[] = []
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
try {
  for (const [i, arg] of args.entries()) {
    const s3Env = { ...s3.env({ bucket: buckets[i] }), PDS_BLOBSTORE_DISK_LOCATION: '' }
    if (arg === 'official') {
      const p = await startOfficialProcess(plc.url, BENCH_SECRETS, s3Env, '0.5.35')
      servers.push({ name: 'official 0.5.35', url: p.url, pid: p.pid, stop: p.stop })
      continue
    }
    const tree = resolve(arg)
    const prof: string[] = []
    if (PROF_DIR) {
      mkdirSync(join(PROF_DIR, String(i)), { recursive: true })
      prof.push('--cpu-prof', `--cpu-prof-dir=${join(PROF_DIR, String(i))}`)
    }
    const p = await startHearthTree(tree, plc.url, { env: s3Env, nodeArgs: prof })
    servers.push({ name: tree, url: p.url, pid: p.pid, stop: p.stop })
  }
  const accounts = []
  for (const [i, s] of servers.entries()) {
    const client = xrpcClient(s.url)
    const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
      json: { handle: `s3ab${i}.pds.bench.test`, email: `s3ab${i}@bench.test`, password: 'password-s3-ab' },
    })) as { did: string; accessJwt: string }
    const upload = async (body: Uint8Array) =>
      ((await client.call('POST', 'com.atproto.repo.uploadBlob', { token: acct.accessJwt, body, contentType: 'application/octet-stream' })) as { blob: BlobRef }).blob
    const readable: BlobRef[] = []
    for (let b = 0; b < READ_BLOBS; b++) readable.push(await upload(blob()))
    await client.call('POST', 'com.atproto.repo.createRecord', {
      token: acct.accessJwt,
      json: { repo: acct.did, collection: 'com.example.bench.blobs', record: { $type: 'com.example.bench.blobs', blobs: readable } },
    })
    const urls = readable.map((b) => new URL(`/xrpc/com.atproto.sync.getBlob?${new URLSearchParams({ did: acct.did, cid: b.ref.$link })}`, s.url))
    // Warm-up: the JIT and the lazily loaded parts of a fresh process are not what is measured.
    for (let w = 0; w < 10; w++) await upload(blob())
    for (let w = 0; w < 20; w++) if ((await getBytes(agent, urls[w % urls.length] as URL)) !== SIZE) throw new Error('getBlob: wrong size')
    accounts.push({ client, token: acct.accessJwt, urls })
  }
  type Row = { upload: number; get: number; upSys: number; getSys: number; upMbps: number; getMbps: number }
  const rows = servers.map(() => [] as Row[])
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, s] of servers.entries()) {
      const { client, token, urls } = accounts[i] as (typeof accounts)[number]
      const row: Row = { upload: Number.NaN, get: Number.NaN, upSys: Number.NaN, getSys: Number.NaN, upMbps: Number.NaN, getMbps: Number.NaN }
      if (ONLY !== 'get') {
        const bodies = Array.from({ length: N }, blob)
        const [u0, s0] = cpu(s.pid)
        const t0 = performance.now()
        for (const body of bodies) await client.call('POST', 'com.atproto.repo.uploadBlob', { token, body, contentType: 'application/octet-stream' })
        const ms = performance.now() - t0
        const [u1, s1] = cpu(s.pid)
        row.upload = (u1 - u0 + s1 - s0) / N
        row.upSys = (s1 - s0) / N
        row.upMbps = N / (ms / 1000)
      }
      if (ONLY !== 'upload') {
        const [u0, s0] = cpu(s.pid)
        const t0 = performance.now()
        for (let k = 0; k < N; k++) if ((await getBytes(agent, urls[k % urls.length] as URL)) !== SIZE) throw new Error('getBlob: wrong size')
        const ms = performance.now() - t0
        const [u1, s1] = cpu(s.pid)
        row.get = (u1 - u0 + s1 - s0) / N
        row.getSys = (s1 - s0) / N
        row.getMbps = N / (ms / 1000)
      }
      rows[i]?.push(row)
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  for (const [i, s] of servers.entries()) {
    const rs = rows[i] as Row[]
    console.log(s.name)
    if (ONLY !== 'get') {
      console.log(`  uploadBlob rounds, ms CPU/op: ${rs.map((x) => x.upload.toFixed(2)).join(' ')}`)
      console.log(`  uploadBlob median: ${median(rs.map((x) => x.upload)).toFixed(2)} ms CPU/op (system ${median(rs.map((x) => x.upSys)).toFixed(2)}), ${median(rs.map((x) => x.upMbps)).toFixed(0)} MB/s`)
    }
    if (ONLY !== 'upload') {
      console.log(`  getBlob rounds, ms CPU/op: ${rs.map((x) => x.get.toFixed(2)).join(' ')}`)
      console.log(`  getBlob median: ${median(rs.map((x) => x.get)).toFixed(2)} ms CPU/op (system ${median(rs.map((x) => x.getSys)).toFixed(2)}), ${median(rs.map((x) => x.getMbps)).toFixed(0)} MB/s`)
    }
  }
  for (const { client } of accounts) client.close()
} finally {
  agent.destroy()
  for (const s of servers) await s.stop()
  await s3.close()
  await plc.close()
}
