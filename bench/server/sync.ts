// The sync part of the server benchmark: downloading 2k-, 10k- and 100k-record repos with getRepo, and the
// firehose fanning one writer's commits out to 100 WebSocket subscribers. Run after the main
// workload (workload.ts), on accounts of its own, with the same fixed-count, deterministic
// approach; BENCH_SERVER_SCALE scales the counts.
import { get } from 'node:http'
import { WebSocket } from 'ws'
import { decodeCbor, decodeCborFirst } from '../../src/repo/cbor.ts'
import { type XrpcClient, xrpcClient } from './client.ts'
import { percentile } from './workload.ts'

const SCALE = Number(process.env.BENCH_SERVER_SCALE ?? 1)
const n = (count: number) => Math.max(1, Math.round(count * SCALE))

export const SYNC_COUNTS = {
  /** Records in the small getRepo account (the size of issue #18's table); the row name keeps saying 2k. */
  smallRepoRecords: n(2_000),
  /** Records in the getRepo account; the row name keeps saying 10k. */
  repoRecords: n(10_000),
  /** Both servers accept at most 200 writes per applyWrites. */
  applyWritesBatch: 200,
  getRepoRuns: Math.max(3, n(6)),
  /**
   * Records in the large getRepo account (BENCH_GET_REPO_RECORDS, 100,000 by default; 0 skips
   * the row). Written by applyWrites of 200, so that building it costs the servers' write path
   * and not the client; the row is named after the count.
   */
  largeRepoRecords: Math.max(0, Math.round(Number(process.env.BENCH_GET_REPO_RECORDS ?? 100_000))),
  largeRepoRuns: 3,
  subscribers: 100,
  firehoseWrites: n(200),
}

export interface SyncResults {
  smallRepoMs: number
  smallRepoMBps: number
  smallRepoCpuMs: number | null
  getRepoMs: number
  getRepoMBps: number
  getRepoBytes: number
  /** Server CPU per getRepo, in ms (null where /proc is missing). */
  getRepoCpuMs: number | null
  /** The same for the large repo (null when BENCH_GET_REPO_RECORDS=0). */
  largeRepoMs: number | null
  largeRepoMBps: number | null
  largeRepoCpuMs: number | null
  firehoseEventsPerSec: number
  firehoseP50: number
  firehoseP99: number
}

const BASE_TIME = Date.UTC(2024, 6, 1)
function post(i: number): Record<string, unknown> {
  return {
    $type: 'app.bsky.feed.post',
    text: `sync benchmark post ${i}: a sentence or two of ordinary length, like most posts are.`,
    createdAt: new Date(BASE_TIME + i * 1000).toISOString(),
  }
}

async function createAccount(client: XrpcClient, name: string): Promise<{ did: string; token: string }> {
  const res = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: `password-${name}` },
  })) as { did: string; accessJwt: string }
  return { did: res.did, token: res.accessJwt }
}

// Raw node:http, like client.ts, and without accept-encoding: neither server compresses.
function download(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let bytes = 0
      const head: Buffer[] = []
      res.on('data', (c: Buffer) => {
        bytes += c.length
        if (head.length < 1) head.push(c)
      })
      res.on('error', reject)
      res.on('end', () => {
        const status = res.statusCode ?? 0
        if (status !== 200) reject(new Error(`getRepo: HTTP ${status} ${Buffer.concat(head).toString('utf8').slice(0, 200)}`))
        else resolve(bytes)
      })
    }).on('error', reject)
  })
}

async function benchGetRepo(
  baseUrl: string,
  client: XrpcClient,
  log: (line: string) => void,
  cpu: () => number | null,
  name: string,
  records: number,
  runs: number,
) {
  const acct = await createAccount(client, name)
  const c = SYNC_COUNTS
  let t0 = performance.now()
  for (let written = 0; written < records; ) {
    const size = Math.min(c.applyWritesBatch, records - written)
    const writes = []
    for (let j = 0; j < size; j++) {
      writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post(written + j) })
    }
    await client.call('POST', 'com.atproto.repo.applyWrites', { token: acct.token, json: { repo: acct.did, writes } })
    written += size
  }
  log(`  getRepo setup: ${records} records written in ${(performance.now() - t0).toFixed(0)} ms (not timed)`)
  const url = `${baseUrl}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(acct.did)}`
  const bytes = await download(url) // warm-up: caches, first-read paths
  const times: number[] = []
  const cpu0 = cpu()
  for (let i = 0; i < runs; i++) {
    t0 = performance.now()
    const got = await download(url)
    times.push(performance.now() - t0)
    if (got !== bytes) throw new Error(`getRepo returned ${got} bytes, then ${bytes}`)
  }
  const cpu1 = cpu()
  const cpuMs = cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / runs
  times.sort((a, b) => a - b)
  const ms = percentile(times, 50)
  log(`  getRepo of ${records} records: ${(bytes / 1e6).toFixed(2)} MB, median of ${runs} ${ms.toFixed(0)} ms, server CPU ${cpuMs?.toFixed(0) ?? 'n/a'} ms each`)
  return { ms, mbps: bytes / (1024 * 1024) / (ms / 1000), bytes, cpuMs }
}

interface Subscriber {
  ws: WebSocket
  /** rev → receive time of the #commit frame for it. */
  seen: Map<string, number>
}

function subscribe(baseUrl: string, did: string, onFrame: () => void): Promise<Subscriber> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`)
  const sub: Subscriber = { ws, seen: new Map() }
  ws.on('message', (data: Buffer) => {
    const at = performance.now()
    const [header, rest] = decodeCborFirst(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) as [{ op?: number; t?: string }, Uint8Array]
    if (header.op !== 1 || header.t !== '#commit') return
    const body = decodeCbor(rest) as { repo?: string; rev?: string }
    if (body.repo !== did || typeof body.rev !== 'string') return
    sub.seen.set(body.rev, at)
    onFrame()
  })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(sub))
    ws.once('error', reject)
  })
}

async function benchFirehose(baseUrl: string, client: XrpcClient, log: (line: string) => void) {
  const c = SYNC_COUNTS
  const acct = await createAccount(client, 'bench-sync-fh')
  let received = 0
  const expected = c.subscribers * c.firehoseWrites
  let allIn: () => void = () => {}
  const done = new Promise<void>((resolve) => (allIn = resolve))
  const onFrame = () => {
    if (++received === expected) allIn()
  }
  const subs = await Promise.all(Array.from({ length: c.subscribers }, () => subscribe(baseUrl, acct.did, onFrame)))
  try {
    // Give the servers a moment to finish attaching every subscriber to the live stream.
    await new Promise((r) => setTimeout(r, 300))
    const responded = new Map<string, number>()
    const t0 = performance.now()
    for (let i = 0; i < c.firehoseWrites; i++) {
      // Latency runs from the write request being sent to the subscriber holding its frame.
      const sentAt = performance.now()
      const res = (await client.call('POST', 'com.atproto.repo.createRecord', {
        token: acct.token,
        json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post(i) },
      })) as { commit?: { rev?: string } }
      const rev = res.commit?.rev
      if (typeof rev !== 'string') throw new Error('createRecord response has no commit.rev')
      responded.set(rev, sentAt)
    }
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())
    if ((await Promise.race([done, timeout])) === 'timeout') {
      log(`  firehose: only ${received} of ${expected} frames arrived within 15 s of the last write`)
    }
    let last = t0
    const lat: number[] = []
    let matched = 0
    for (const sub of subs) {
      for (const [rev, at] of sub.seen) {
        const sent = responded.get(rev)
        if (sent === undefined) continue
        matched++
        if (at > last) last = at
        lat.push(at - sent)
      }
    }
    lat.sort((a, b) => a - b)
    const secs = (last - t0) / 1000
    log(`  firehose: ${matched} of ${expected} frames to ${c.subscribers} subscribers in ${(secs * 1000).toFixed(0)} ms`)
    return { firehoseEventsPerSec: matched / secs, firehoseP50: percentile(lat, 50), firehoseP99: percentile(lat, 99) }
  } finally {
    for (const sub of subs) sub.ws.terminate()
  }
}

export async function runSyncWorkload(baseUrl: string, log: (line: string) => void, cpu: () => number | null = () => null): Promise<SyncResults> {
  const client = xrpcClient(baseUrl)
  try {
    const c = SYNC_COUNTS
    const small = await benchGetRepo(baseUrl, client, log, cpu, 'bench-sync-small', c.smallRepoRecords, c.getRepoRuns * 4)
    const repo = await benchGetRepo(baseUrl, client, log, cpu, 'bench-sync-repo', c.repoRecords, c.getRepoRuns)
    const large = c.largeRepoRecords > 0 ? await benchGetRepo(baseUrl, client, log, cpu, 'bench-sync-large', c.largeRepoRecords, c.largeRepoRuns) : null
    const fh = await benchFirehose(baseUrl, client, log)
    return {
      smallRepoMs: small.ms,
      smallRepoMBps: small.mbps,
      smallRepoCpuMs: small.cpuMs,
      getRepoMs: repo.ms,
      getRepoMBps: repo.mbps,
      getRepoBytes: repo.bytes,
      getRepoCpuMs: repo.cpuMs,
      largeRepoMs: large?.ms ?? null,
      largeRepoMBps: large?.mbps ?? null,
      largeRepoCpuMs: large?.cpuMs ?? null,
      ...fh,
    }
  } finally {
    client.close()
  }
}
