// The many-accounts part of the server benchmark: a host of BENCH_ACCOUNTS accounts (1,000 by
// default), one post each, then one request on every account in turn, as AppViews, relays and
// users spread over a real host do. Each pass is timed client-side (p50) and by the server's CPU
// time (utime + stime from /proc/<pid>/stat, divided by the requests), since on a shared 2-core
// machine the client's own cost would hide where the server's went.
//   first touch: right after a restart, so each request is the first on its account;
//   round robin: the same pass again without a restart.
// A restart is preceded by nothing and followed by a warm-up on accounts of their own (the JIT
// of a fresh process is not what is measured).
import { type XrpcClient, xrpcClient } from './client.ts'
import type { PdsProcess } from './processes.ts'
import { percentile } from './workload.ts'

export const MANY_COUNTS = {
  accounts: Math.max(10, Number(process.env.BENCH_ACCOUNTS ?? 1000)),
  warmupAccounts: 20,
  warmupRequests: 300,
  createConcurrency: 4,
}

export interface ManyResults {
  createAccountCpuMs: number | null
  firstTouchGetP50: number
  firstTouchGetCpuMs: number | null
  roundRobinGetP50: number
  roundRobinGetCpuMs: number | null
  firstTouchCreateP50: number
  firstTouchCreateCpuMs: number | null
  roundRobinCreateP50: number
  roundRobinCreateCpuMs: number | null
}

interface Account {
  did: string
  token: string
  rkey: string
}

const BASE_TIME = Date.UTC(2024, 9, 1)
let counter = 0
function post(): Record<string, unknown> {
  const i = counter++
  return {
    $type: 'app.bsky.feed.post',
    text: `many-accounts benchmark post ${i}: a sentence or two of ordinary length, like most posts are.`,
    createdAt: new Date(BASE_TIME + i * 1000).toISOString(),
  }
}

async function createRecord(client: XrpcClient, acct: { did: string; token: string }): Promise<string> {
  const res = (await client.call('POST', 'com.atproto.repo.createRecord', {
    token: acct.token,
    json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post() },
  })) as { uri: string }
  return res.uri.slice(res.uri.lastIndexOf('/') + 1)
}

function getRecord(client: XrpcClient, acct: Account): Promise<unknown> {
  return client.call('GET', 'com.atproto.repo.getRecord', { params: { repo: acct.did, collection: 'app.bsky.feed.post', rkey: acct.rkey } })
}

async function createAccounts(client: XrpcClient, prefix: string, count: number): Promise<Account[]> {
  const out: Account[] = new Array(count)
  let next = 0
  await Promise.all(
    Array.from({ length: MANY_COUNTS.createConcurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const name = `${prefix}${i}`
        const res = (await client.call('POST', 'com.atproto.server.createAccount', {
          json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: `password-${name}` },
        })) as { did: string; accessJwt: string }
        const acct = { did: res.did, token: res.accessJwt }
        out[i] = { ...acct, rkey: await createRecord(client, acct) }
      }
    }),
  )
  return out
}

/** One request per account, one at a time: p50 latency and server CPU per request. */
async function pass(pds: PdsProcess, accounts: Account[], fn: (a: Account) => Promise<unknown>): Promise<{ p50: number; cpuMs: number | null }> {
  const lat: number[] = []
  const cpu0 = pds.cpuMs()
  for (const a of accounts) {
    const s = performance.now()
    await fn(a)
    lat.push(performance.now() - s)
  }
  const cpu1 = pds.cpuMs()
  // MANY_TENTHS=1: the p50 of each tenth of the pass, in order (how a pass changes as it goes).
  if (process.env.MANY_TENTHS) {
    const tenth = Math.ceil(lat.length / 10)
    const p50s = Array.from({ length: 10 }, (_, i) => percentile([...lat.slice(i * tenth, (i + 1) * tenth)].sort((a, b) => a - b), 50))
    process.stderr.write(`  p50 by tenth of the pass: ${p50s.map((x) => x.toFixed(2)).join(' ')} ms\n`)
  }
  lat.sort((a, b) => a - b)
  return { p50: percentile(lat, 50), cpuMs: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / accounts.length }
}

async function warmUp(client: XrpcClient, warm: Account[]): Promise<void> {
  for (let i = 0; i < MANY_COUNTS.warmupRequests; i++) {
    const a = warm[i % warm.length] as Account
    if (i % 2 === 0) await getRecord(client, a)
    else await createRecord(client, a)
  }
}

/**
 * Runs the passes on `pds`, restarting it twice; returns the figures and the process now
 * running (the caller stops that one).
 */
export async function runManyAccountsWorkload(pds: PdsProcess, log: (line: string) => void): Promise<{ results: ManyResults; pds: PdsProcess }> {
  counter = 0
  let client = xrpcClient(pds.url)
  let current = pds
  try {
    const t0 = performance.now()
    const cpu0 = current.cpuMs()
    const accounts = await createAccounts(client, 'many', MANY_COUNTS.accounts)
    const warm = await createAccounts(client, 'manywarm', MANY_COUNTS.warmupAccounts)
    const cpu1 = current.cpuMs()
    const created = MANY_COUNTS.accounts + MANY_COUNTS.warmupAccounts
    log(`  ${created} accounts with a post each in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const restart = async () => {
      client.close()
      current = await current.restart()
      client = xrpcClient(current.url)
      await warmUp(client, warm)
    }

    await restart()
    const ftGet = await pass(current, accounts, (a) => getRecord(client, a))
    const rrGet = await pass(current, accounts, (a) => getRecord(client, a))
    log(`  getRecord over ${accounts.length} accounts: first touch p50 ${ftGet.p50.toFixed(2)} ms, round robin p50 ${rrGet.p50.toFixed(2)} ms`)
    await restart()
    const ftCreate = await pass(current, accounts, (a) => createRecord(client, a))
    const rrCreate = await pass(current, accounts, (a) => createRecord(client, a))
    log(`  createRecord over ${accounts.length} accounts: first touch p50 ${ftCreate.p50.toFixed(2)} ms, round robin p50 ${rrCreate.p50.toFixed(2)} ms`)
    return {
      pds: current,
      results: {
        createAccountCpuMs: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / created,
        firstTouchGetP50: ftGet.p50,
        firstTouchGetCpuMs: ftGet.cpuMs,
        roundRobinGetP50: rrGet.p50,
        roundRobinGetCpuMs: rrGet.cpuMs,
        firstTouchCreateP50: ftCreate.p50,
        firstTouchCreateCpuMs: ftCreate.cpuMs,
        roundRobinCreateP50: rrCreate.p50,
        roundRobinCreateCpuMs: rrCreate.cpuMs,
      },
    }
  } catch (err) {
    // The caller stops the process it knows of; a restarted one is this function's to stop.
    if (current !== pds) await current.stop()
    throw err
  } finally {
    client.close()
  }
}
