// The request sequence of the server benchmark, run against one PDS at a time. Every server
// gets exactly the same requests (same accounts, records, blobs, counts, order); only the
// timings differ. Counts are fixed (not durations) so that both servers end with the same
// data; BENCH_SERVER_SCALE scales them all.
import { createHash } from 'node:crypto'
import { type XrpcClient, xrpcClient } from './client.ts'

const SCALE = Number(process.env.BENCH_SERVER_SCALE ?? 1)
const n = (count: number) => Math.max(1, Math.round(count * SCALE))

export const COUNTS = {
  warmup: n(50),
  sequential: n(400),
  concurrentClients: 8,
  concurrentPerClient: n(100),
  applyWrites: n(60),
  applyWritesBatch: 10,
  getRecord: n(2000),
  listRecords: n(300),
  uploadBlob: n(40),
  uploadBlobWarmup: 8,
  blobBytes: 1024 * 1024,
}

export interface ServerResults {
  createSeqOps: number
  createSeqP50: number
  createSeqP99: number
  createConcOps: number
  createConcP99: number
  /** The same 8 clients at once, all writing into one account (one repo, so every commit is in turn). */
  createSharedOps: number
  createSharedP99: number
  applyWritesOps: number
  getRecordOps: number
  listRecordsOps: number
  uploadBlobOps: number
  uploadBlobMBps: number
  /** Server CPU (user + system) per operation, in ms; null where /proc is missing. */
  createSeqCpuMs: number | null
  createConcCpuMs: number | null
  createSharedCpuMs: number | null
  /** Per record written. */
  applyWritesCpuMs: number | null
  getRecordCpuMs: number | null
  listRecordsCpuMs: number | null
  uploadBlobCpuMs: number | null
  /**
   * createRecord, sequential, once more after the other request rows (~4,400 requests of every
   * kind; before the uploads, whose garbage it would collect), on an account of its own as small as the first row's: the same row with the
   * server's JIT and caches settled, where the first row comes after 50 writes of warm-up.
   */
  createSeqWarmOps: number
  createSeqWarmP50: number
  createSeqWarmCpuMs: number | null
}

/** Measures the server's CPU time over a span of requests, per operation. */
export function cpuMeter(cpu: () => number | null): (ops: number) => number | null {
  let start = cpu()
  return (ops) => {
    const end = cpu()
    const per = start === null || end === null ? null : (end - start) / ops
    start = end
    return per
  }
}

interface Account {
  did: string
  token: string
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)] as number
}

const BASE_TIME = Date.UTC(2024, 0, 1)
let postCounter = 0
function post(label: string): Record<string, unknown> {
  const i = postCounter++
  return {
    $type: 'app.bsky.feed.post',
    text: `benchmark post ${label} ${i}: a sentence or two of ordinary length, like most posts are.`,
    createdAt: new Date(BASE_TIME + i * 1000).toISOString(),
  }
}

/**
 * Distinct incompressible blobs made cheaply: one base of blobBytes(index, size), whose first four
 * bytes become the number asked for, so that a client timing uploads does not hash a new blob
 * for each.
 */
export function blobVariants(index: number, size: number): (n: number) => Uint8Array {
  const base = blobBytes(index, size)
  return (n) => {
    const body = base.slice()
    new DataView(body.buffer).setUint32(0, n)
    return body
  }
}

/** Deterministic, incompressible bytes: the same blob for the same index on every server. */
export function blobBytes(index: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  let offset = 0
  let counter = 0
  while (offset < size) {
    const block = createHash('sha256').update(`blob ${index} ${counter++}`).digest()
    out.set(block.subarray(0, Math.min(block.length, size - offset)), offset)
    offset += block.length
  }
  return out
}

async function createAccount(client: XrpcClient, name: string): Promise<Account> {
  const res = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: `password-${name}` },
  })) as { did: string; accessJwt: string }
  return { did: res.did, token: res.accessJwt }
}

function createRecord(client: XrpcClient, acct: Account, label: string): Promise<unknown> {
  return client.call('POST', 'com.atproto.repo.createRecord', {
    token: acct.token,
    json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post(label) },
  })
}

/** COUNTS.sequential createRecords one at a time: sorted latencies, total ms, the rkeys made. */
async function sequentialCreates(client: XrpcClient, acct: Account, label: string): Promise<{ latencies: number[]; ms: number; rkeys: string[] }> {
  const latencies: number[] = []
  const rkeys: string[] = []
  const t0 = performance.now()
  for (let i = 0; i < COUNTS.sequential; i++) {
    const s = performance.now()
    const res = (await createRecord(client, acct, label)) as { uri: string }
    latencies.push(performance.now() - s)
    rkeys.push(res.uri.slice(res.uri.lastIndexOf('/') + 1))
  }
  const ms = performance.now() - t0
  latencies.sort((a, b) => a - b)
  return { latencies, ms, rkeys }
}

/** One client per account given (the same account may be given more than once), all at once, COUNTS.concurrentPerClient createRecords each. */
async function concurrentCreates(client: XrpcClient, accounts: Account[], label: string): Promise<{ latencies: number[]; ms: number }> {
  const latencies: number[] = []
  const t0 = performance.now()
  await Promise.all(
    accounts.map(async (acct) => {
      for (let i = 0; i < COUNTS.concurrentPerClient; i++) {
        const s = performance.now()
        await createRecord(client, acct, label)
        latencies.push(performance.now() - s)
      }
    }),
  )
  const ms = performance.now() - t0
  latencies.sort((a, b) => a - b)
  return { latencies, ms }
}

export async function runWorkload(baseUrl: string, log: (line: string) => void, cpu: () => number | null = () => null): Promise<ServerResults> {
  postCounter = 0
  const client = xrpcClient(baseUrl)
  try {
    const main = await createAccount(client, 'bench-main')
    const others: Account[] = []
    for (let i = 0; i < COUNTS.concurrentClients; i++) others.push(await createAccount(client, `bench-c${i}`))
    const shared = await createAccount(client, 'bench-shared')
    const warm = await createAccount(client, 'bench-warm')
    const late = await createAccount(client, 'bench-late')

    // Warm-up on an account of its own: JIT, statement caches, first-write paths.
    for (let i = 0; i < COUNTS.warmup; i++) await createRecord(client, warm, 'warm')
    for (let i = 0; i < COUNTS.warmup; i++) {
      await client.call('GET', 'com.atproto.repo.getRecord', {
        params: { repo: warm.did, collection: 'app.bsky.feed.post', rkey: 'nonexistent' },
      }).catch(() => undefined)
    }

    // createRecord, one client, one request at a time.
    const meter = cpuMeter(cpu)
    const { latencies: seqLat, ms: seqMs, rkeys } = await sequentialCreates(client, main, 'seq')
    const createSeqCpuMs = meter(COUNTS.sequential)
    log(`  createRecord sequential: ${COUNTS.sequential} in ${seqMs.toFixed(0)} ms`)
    let t0: number

    // createRecord, 8 clients at once, each on its own account (separate repos, so the servers
    // may write them in parallel).
    const conc = await concurrentCreates(client, others, 'conc')
    const createConcCpuMs = meter(conc.latencies.length)
    log(`  createRecord x${COUNTS.concurrentClients}: ${conc.latencies.length} in ${conc.ms.toFixed(0)} ms`)

    // The same 8 clients at once, all into one account: one repo, whose commits each server must
    // make one after another (each commit builds on the last), as a busy account's app and
    // scheduled posts would.
    const sharedRow = await concurrentCreates(client, others.map(() => shared), 'shared')
    const createSharedCpuMs = meter(sharedRow.latencies.length)
    log(`  createRecord x${COUNTS.concurrentClients}, one account: ${sharedRow.latencies.length} in ${sharedRow.ms.toFixed(0)} ms`)

    // applyWrites with 10 creates per call.
    t0 = performance.now()
    for (let i = 0; i < COUNTS.applyWrites; i++) {
      const writes = []
      for (let j = 0; j < COUNTS.applyWritesBatch; j++) {
        writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post('batch') })
      }
      await client.call('POST', 'com.atproto.repo.applyWrites', { token: main.token, json: { repo: main.did, writes } })
    }
    const applyMs = performance.now() - t0
    const applyWritesCpuMs = meter(COUNTS.applyWrites * COUNTS.applyWritesBatch)
    log(`  applyWrites: ${COUNTS.applyWrites} calls in ${applyMs.toFixed(0)} ms`)

    // getRecord of the records written above, unauthenticated, as an AppView or client would.
    t0 = performance.now()
    for (let i = 0; i < COUNTS.getRecord; i++) {
      await client.call('GET', 'com.atproto.repo.getRecord', {
        params: { repo: main.did, collection: 'app.bsky.feed.post', rkey: rkeys[(i * 7919) % rkeys.length] as string },
      })
    }
    const getMs = performance.now() - t0
    const getRecordCpuMs = meter(COUNTS.getRecord)
    log(`  getRecord: ${COUNTS.getRecord} in ${getMs.toFixed(0)} ms`)

    // listRecords, 100 at a time, of a repo holding ~1000 records.
    t0 = performance.now()
    for (let i = 0; i < COUNTS.listRecords; i++) {
      const res = (await client.call('GET', 'com.atproto.repo.listRecords', {
        params: { repo: main.did, collection: 'app.bsky.feed.post', limit: '100' },
      })) as { records: unknown[] }
      if (res.records.length !== 100) throw new Error(`listRecords returned ${res.records.length} records, expected 100`)
    }
    const listMs = performance.now() - t0
    const listRecordsCpuMs = meter(COUNTS.listRecords)
    log(`  listRecords: ${COUNTS.listRecords} in ${listMs.toFixed(0)} ms`)

    // createRecord, sequential, again: the first row's requests on a server that has run a while.
    meter(1)
    const { latencies: warmLat, ms: warmMs } = await sequentialCreates(client, late, 'late')
    const createSeqWarmCpuMs = meter(COUNTS.sequential)
    log(`  createRecord sequential, settled: ${COUNTS.sequential} in ${warmMs.toFixed(0)} ms`)

    // uploadBlob of 1 MiB, distinct incompressible bytes each time, after a few untimed ones on
    // another account, as the disk blob rows do: a process's first upload loads what the others
    // reuse (Hearth loads its MIME sniffer then, ~40 ms of CPU once), which is no part of an
    // upload's cost. See "uploadBlob, fifth round" in docs/BENCHMARKS.md.
    for (let i = 0; i < COUNTS.uploadBlobWarmup; i++) {
      const body = blobBytes(COUNTS.uploadBlob + i, COUNTS.blobBytes)
      await client.call('POST', 'com.atproto.repo.uploadBlob', { token: warm.token, body, contentType: 'application/octet-stream' })
    }
    const blobs = Array.from({ length: COUNTS.uploadBlob }, (_, i) => blobBytes(i, COUNTS.blobBytes))
    meter(1)
    t0 = performance.now()
    for (const body of blobs) {
      await client.call('POST', 'com.atproto.repo.uploadBlob', { token: main.token, body, contentType: 'application/octet-stream' })
    }
    const blobMs = performance.now() - t0
    const uploadBlobCpuMs = meter(COUNTS.uploadBlob)
    log(`  uploadBlob: ${COUNTS.uploadBlob} in ${blobMs.toFixed(0)} ms`)

    return {
      createSeqOps: (COUNTS.sequential * 1000) / seqMs,
      createSeqP50: percentile(seqLat, 50),
      createSeqP99: percentile(seqLat, 99),
      createConcOps: (conc.latencies.length * 1000) / conc.ms,
      createConcP99: percentile(conc.latencies, 99),
      createSharedOps: (sharedRow.latencies.length * 1000) / sharedRow.ms,
      createSharedP99: percentile(sharedRow.latencies, 99),
      applyWritesOps: (COUNTS.applyWrites * 1000) / applyMs,
      getRecordOps: (COUNTS.getRecord * 1000) / getMs,
      listRecordsOps: (COUNTS.listRecords * 1000) / listMs,
      uploadBlobOps: (COUNTS.uploadBlob * 1000) / blobMs,
      uploadBlobMBps: (COUNTS.uploadBlob * COUNTS.blobBytes) / (1024 * 1024) / (blobMs / 1000),
      createSeqCpuMs,
      createConcCpuMs,
      createSharedCpuMs,
      applyWritesCpuMs,
      getRecordCpuMs,
      listRecordsCpuMs,
      uploadBlobCpuMs,
      createSeqWarmOps: (COUNTS.sequential * 1000) / warmMs,
      createSeqWarmP50: percentile(warmLat, 50),
      createSeqWarmCpuMs,
    }
  } finally {
    client.close()
  }
}
