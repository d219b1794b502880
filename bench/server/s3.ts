// The blob benchmark on S3: one s3rver process (the S3-compatible server the tests use, on
// loopback), Hearth with its blobs in one bucket and the official PDS with its blobs in another
// bucket of the same server, each configured through the official PDS_BLOBSTORE_S3_* variables;
// then the same workload on each server's disk blobstore, for the disk-vs-S3 comparison.
// Measured: uploadBlob of 1 MiB, and getBlob of 1 MiB blobs a record references (so they are
// permanent), one request at a time, each row bounded by time (ROW_MS); server CPU per op is
// the PDS process's own (s3rver's is not counted). `BENCH_S3=0` skips it.
import { existsSync, readdirSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { startS3 } from '../../test/helpers/s3.ts'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import type { Row } from '../harness.ts'
import { xrpcClient } from './client.ts'
import { ensureOfficial, OFFICIAL_VERSION } from './official.ts'
import { ensureOfficial05, OFFICIAL_05_VERSION } from './official-05.ts'
import { type OfficialRelease, type PdsProcess, type PdsSecrets, startHearthProcess, startOfficialProcess } from './processes.ts'
import { blobBytes, blobVariants, cpuMeter } from './workload.ts'

const RELEASE: OfficialRelease = process.env.BENCH_OFFICIAL === OFFICIAL_VERSION ? OFFICIAL_VERSION : OFFICIAL_05_VERSION
/** How long each measured row runs (the last request started within it still completes). */
const ROW_MS = Number(process.env.BENCH_S3_ROW_MS ?? 3000)
const BLOB_BYTES = 1024 * 1024
/** At most this many blobs are uploaded in a row, which bounds the temp space it takes. */
const MAX_UPLOADS = 300
/** Blobs a record references, read round-robin by the getBlob row. */
const READ_BLOBS = 8

const SECRETS: PdsSecrets = {
  jwtSecret: 'bench-jwt-secret-0123456789abcdef0123',
  adminPassword: 'bench-admin-password',
  rotationKeyHex: `${'b'.repeat(63)}1`,
}

const log = (line: string) => process.stderr.write(`${line}\n`)

interface BlobResults {
  uploadMBps: number
  uploadCpuMs: number | null
  getMBps: number
  getCpuMs: number | null
}

interface BlobRef {
  $type: 'blob'
  ref: { $link: string }
  mimeType: string
  size: number
}

/** getBlob's answer is the bytes, not JSON: read them whole, keep-alive like the XRPC client. */
function getBytes(agent: Agent, base: URL, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path, method: 'GET', agent }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => (bytes += c.length))
      res.on('error', reject)
      res.on('end', () => {
        const status = res.statusCode ?? 0
        if (status !== 200) reject(new Error(`getBlob: HTTP ${status}`))
        else resolve(bytes)
      })
    })
    req.on('error', reject)
    req.end()
  })
}

async function runBlobWorkload(pds: PdsProcess): Promise<BlobResults> {
  const client = xrpcClient(pds.url)
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  const base = new URL(pds.url)
  try {
    const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
      json: { handle: 'bench-blob.pds.bench.test', email: 'bench-blob@bench.test', password: 'password-bench-blob' },
    })) as { did: string; accessJwt: string }
    const upload = async (body: Uint8Array) =>
      ((await client.call('POST', 'com.atproto.repo.uploadBlob', { token: acct.accessJwt, body, contentType: 'application/octet-stream' })) as { blob: BlobRef }).blob

    // Warm-up, and the blobs the getBlob row reads: referenced by one record, so made permanent.
    const readable: BlobRef[] = []
    for (let i = 0; i < READ_BLOBS; i++) readable.push(await upload(blobBytes(1_000_000 + i, BLOB_BYTES)))
    await client.call('POST', 'com.atproto.repo.createRecord', {
      token: acct.accessJwt,
      json: { repo: acct.did, collection: 'com.example.bench.blobs', record: { $type: 'com.example.bench.blobs', blobs: readable } },
    })
    const path = (b: BlobRef) => `/xrpc/com.atproto.sync.getBlob?${new URLSearchParams({ did: acct.did, cid: b.ref.$link }).toString()}`
    for (const b of readable) {
      const got = await getBytes(agent, base, path(b))
      if (got !== BLOB_BYTES) throw new Error(`getBlob returned ${got} bytes, expected ${BLOB_BYTES}`)
    }

    const nth = blobVariants(0, BLOB_BYTES)
    const meter = cpuMeter(() => pds.cpuMs())
    let t0 = performance.now()
    let uploads = 0
    while (uploads < MAX_UPLOADS && performance.now() - t0 < ROW_MS) await upload(nth(uploads++))
    const uploadMs = performance.now() - t0
    const uploadCpuMs = meter(uploads)
    log(`  uploadBlob: ${uploads} in ${uploadMs.toFixed(0)} ms`)

    t0 = performance.now()
    let reads = 0
    while (performance.now() - t0 < ROW_MS) {
      const got = await getBytes(agent, base, path(readable[reads++ % readable.length] as BlobRef))
      if (got !== BLOB_BYTES) throw new Error(`getBlob returned ${got} bytes, expected ${BLOB_BYTES}`)
    }
    const getMs = performance.now() - t0
    const getCpuMs = meter(reads)
    log(`  getBlob: ${reads} in ${getMs.toFixed(0)} ms`)
    const mb = BLOB_BYTES / (1024 * 1024)
    return { uploadMBps: (uploads * mb * 1000) / uploadMs, uploadCpuMs, getMBps: (reads * mb * 1000) / getMs, getCpuMs }
  } finally {
    client.close()
    agent.destroy()
  }
}

/** Files under a folder, recursively (s3rver keeps a bucket's objects as files in its folder). */
function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length
}

async function measure(start: () => Promise<PdsProcess>, label: string, bucketDir?: string): Promise<BlobResults> {
  const pds = await start()
  try {
    log(`${pds.name}, blobs on ${label} (pid ${pds.pid}) at ${pds.url}`)
    const results = await runBlobWorkload(pds)
    // A server that silently fell back to its disk would measure the wrong thing.
    if (bucketDir !== undefined && countFiles(bucketDir) === 0) throw new Error(`${pds.name} wrote nothing to its bucket`)
    return results
  } finally {
    await pds.stop()
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

interface Side {
  disk: BlobResults | null
  s3: BlobResults | null
}

export async function s3Benchmarks(): Promise<Row[]> {
  if (process.env.BENCH_S3 === '0') return []
  const started = performance.now()
  const hearthBucket = 'bench-hearth'
  const officialBucket = 'bench-official'
  const plc = await startReferencePlc()
  const s3 = await startS3({ bucket: hearthBucket, buckets: [officialBucket] })
  // The official refuses a disk location beside a bucket; empty is unset for both servers.
  const s3Env = (bucket: string) => ({ ...s3.env({ bucket }), PDS_BLOBSTORE_DISK_LOCATION: '' })
  const hearth: Side = { disk: null, s3: null }
  const official: Side = { disk: null, s3: null }
  const why: string[] = []
  try {
    log(`s3rver (its own process) at ${s3.url}, buckets ${hearthBucket} and ${officialBucket}`)
    const tryRun = async (label: string, run: () => Promise<BlobResults>): Promise<BlobResults | null> => {
      try {
        return await run()
      } catch (err) {
        why.push(`${label}: ${errorText(err)}`)
        return null
      }
    }
    hearth.s3 = await tryRun('Hearth on S3', () => measure(() => startHearthProcess(plc.url, SECRETS, s3Env(hearthBucket)), `S3 (${hearthBucket})`, join(s3.directory, hearthBucket)))
    hearth.disk = await tryRun('Hearth on disk', () => measure(() => startHearthProcess(plc.url, SECRETS), 'disk'))
    const notInstalled = RELEASE === OFFICIAL_05_VERSION ? await ensureOfficial05(log) : await ensureOfficial(log)
    if (notInstalled) why.push(`official PDS ${RELEASE}: ${notInstalled}`)
    else {
      official.s3 = await tryRun(`official PDS ${RELEASE} on S3`, () =>
        measure(() => startOfficialProcess(plc.url, SECRETS, s3Env(officialBucket), RELEASE), `S3 (${officialBucket})`, join(s3.directory, officialBucket)),
      )
      official.disk = await tryRun(`official PDS ${RELEASE} on disk`, () => measure(() => startOfficialProcess(plc.url, SECRETS, {}, RELEASE), 'disk'))
    }
  } finally {
    await s3.close()
    await plc.close()
  }
  log(`S3 blob benchmark took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  for (const w of why) log(`S3 blob rows: ${w}`)
  const note = why.length > 0 ? why.join('; ') : undefined
  const rows: Row[] = []
  const add = (name: string, store: keyof Side, pick: (r: BlobResults) => number | null, unit: string, higherIsBetter: boolean) => {
    const h = hearth[store]
    const hv = h ? pick(h) : null
    if (hv === null) return
    const o = official[store]
    rows.push({ name: `server_${name}`, hearth: hv, reference: o ? pick(o) : null, unit, higherIsBetter, note })
  }
  for (const store of ['disk', 's3'] as const) {
    add(`blob_${store}_upload_blob_1mib`, store, (r) => r.uploadMBps, 'MB/s', true)
    add(`blob_${store}_get_blob_1mib`, store, (r) => r.getMBps, 'MB/s', true)
    add(`blob_${store}_upload_blob_1mib_cpu`, store, (r) => r.uploadCpuMs, 'ms CPU/op', false)
    add(`blob_${store}_get_blob_1mib_cpu`, store, (r) => r.getCpuMs, 'ms CPU/op', false)
  }
  return rows
}
