// `node --import tsx bench/profile/ab.ts <get|list|create> [requests] [rounds]`: server CPU per
// request of two checkouts side by side, for a change to the request path whose effect is below
// this shared machine's noise when the two are measured minutes apart. Starts Hearth from
// HEARTH_BIN_A and HEARTH_BIN_B (each a checkout's bin/hearth.js; both default to this one),
// gives each an account with 1,000 posts, warms each up, then runs rounds of `requests`
// sequential requests over one keep-alive connection alternately on A and B, each with the
// server's CPU per request from /proc/<pid>/stat. The kinds are those of run.ts: getRecord of
// one of the 1,000 posts, listRecords `limit=100`, createRecord of a post, and getRepo (the whole
// repo downloaded; plus `session` (getSession) and `follow` (createRecord of a follow, whose
// backlink is checked); AB_RECORDS posts, default 10,000 for it and 1,000 for the others). A HEARTH_BIN_* that
// ends in `.mjs` (a checkout's dist/hearth.mjs, after its `npm run build`) is started as
// `npm start` and `npm run bench` start it: plain node, its node flags and allocator settings
// (HEARTH_AB_FLAGS_A / HEARTH_AB_FLAGS_B replace a side's node flags).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient, type XrpcClient } from '../server/client.ts'
import { freePort, hearthEnv, readCpuMs, spawnPds, type SpawnedPds } from '../server/processes.ts'

const op = process.argv[2] ?? 'get'
if (!['get', 'list', 'create', 'getRepo', 'session', 'follow'].includes(op)) throw new Error(`unknown request kind ${op}: get, list, create, getRepo, session or follow`)
const N = Number(process.argv[3] ?? 2000)
const rounds = Number(process.argv[4] ?? 4)
const RECORDS = Number(process.env.AB_RECORDS ?? (op === 'getRepo' ? 10_000 : 1000))
const plc = await startReferencePlc()

interface Side {
  name: string
  pds: SpawnedPds
  url: string
  client: XrpcClient
  dataDir: string
  did: string
  token: string
  rkeys: string[]
  cpu: number[]
}

const post = (i: number) => ({
  $type: 'app.bsky.feed.post',
  text: `profile post ${i}: a sentence or two of ordinary length, like most posts are.`,
  createdAt: new Date(1.7e12 + i * 1000).toISOString(),
})

async function start(name: string, bin: string): Promise<Side> {
  const dataDir = mkdtempSync(join(tmpdir(), `hearth-ab-${name}-`))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const bundle = bin.endsWith('.mjs')
  // HEARTH_AB_FLAGS_A / _B: other node flags for one side (e.g. another young-generation size).
  const custom = process.env[`HEARTH_AB_FLAGS_${name}`]
  const flags = custom !== undefined ? custom.split(' ').filter(Boolean) : bundle ? ['--max-semi-space-size=2'] : []
  const args = [...flags, bin, 'serve']
  const env = { ...(bundle ? { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } : {}), ...hearthEnv(port, dataDir, plc.url) }
  // HEARTH_AB_NODE_A / _B: another node binary for one side (e.g. a newer Node, with a tree whose native modules were built for it).
  const node = process.env[`HEARTH_AB_NODE_${name}`] || undefined
  const pds = await spawnPds({ name: `Hearth ${name}`, node, args, env, url, timeoutMs: 60_000 })
  const client = xrpcClient(url)
  const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: `ab-${name.toLowerCase()}.pds.bench.test`, email: `ab-${name}@bench.test`, password: 'password-ab' },
  })) as { did: string; accessJwt: string }
  const rkeys: string[] = []
  for (let i = 0; i < RECORDS; i += 100) {
    const writes = Array.from({ length: 100 }, (_, j) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post(i + j) }))
    const res = (await client.call('POST', 'com.atproto.repo.applyWrites', { token: acct.accessJwt, json: { repo: acct.did, writes } })) as {
      results: Array<{ uri: string }>
    }
    for (const r of res.results) rkeys.push(r.uri.slice(r.uri.lastIndexOf('/') + 1))
  }
  return { name, pds, url, client, dataDir, did: acct.did, token: acct.accessJwt, rkeys, cpu: [] }
}

let k = 0
async function requests(s: Side, n: number): Promise<void> {
  for (let i = 0; i < n; i++, k++) {
    if (op === 'get') {
      await s.client.call('GET', 'com.atproto.repo.getRecord', { params: { repo: s.did, collection: 'app.bsky.feed.post', rkey: s.rkeys[(k * 7919) % s.rkeys.length] as string } })
    } else if (op === 'getRepo') {
      const res = await fetch(`${s.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(s.did)}`)
      if (res.status !== 200) throw new Error(`getRepo: ${res.status}`)
      await res.arrayBuffer()
    } else if (op === 'list') {
      await s.client.call('GET', 'com.atproto.repo.listRecords', { params: { repo: s.did, collection: 'app.bsky.feed.post', limit: '100' } })
    } else if (op === 'session') {
      await s.client.call('GET', 'com.atproto.server.getSession', { token: s.token })
    } else if (op === 'follow') {
      const subject = `did:plc:${k.toString(36).padStart(24, 'a')}`
      await s.client.call('POST', 'com.atproto.repo.createRecord', { token: s.token, json: { repo: s.did, collection: 'app.bsky.graph.follow', record: { $type: 'app.bsky.graph.follow', subject, createdAt: new Date().toISOString() } } })
    } else {
      await s.client.call('POST', 'com.atproto.repo.createRecord', { token: s.token, json: { repo: s.did, collection: 'app.bsky.feed.post', record: post(k) } })
    }
  }
}

const sides: Side[] = []
if (process.env.HEARTH_BIN_A === undefined && process.env.HEARTH_BIN_B === undefined) console.log('A and B both run this checkout (set HEARTH_BIN_A / HEARTH_BIN_B)')
try {
  sides.push(await start('A', process.env.HEARTH_BIN_A ?? 'bin/hearth.js'))
  sides.push(await start('B', process.env.HEARTH_BIN_B ?? 'bin/hearth.js'))
  for (const s of sides) await requests(s, Math.min(N, op === 'getRepo' ? 20 : 1000))
  for (let r = 0; r < rounds; r++) {
    // A then B on even rounds, B then A on odd ones: neither always runs right after the warm-up.
    for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
      const c0 = readCpuMs(s.pds.child.pid as number)
      const t0 = performance.now()
      await requests(s, N)
      const ms = performance.now() - t0
      const c1 = readCpuMs(s.pds.child.pid as number)
      const per = c0 === null || c1 === null ? NaN : (c1 - c0) / N
      s.cpu.push(per)
      console.log(`round ${r} ${s.name}: ${N} ${op}, ${((N * 1000) / ms).toFixed(0)}/s, server CPU ${per.toFixed(3)} ms per request`)
    }
  }
  // Each round's B − A: the two ran back to back, so the load they met was about the same.
  const diffs = sides[0].cpu.map((a, i) => (sides[1].cpu[i] as number) - a).sort((x, y) => x - y)
  const lower = diffs.filter((d) => d < 0).length
  console.log(`B − A per round: median ${diffs[Math.floor(diffs.length / 2)]?.toFixed(3)} ms; B lower in ${lower} of ${diffs.length} rounds`)
  for (const s of sides) {
    const sorted = [...s.cpu].sort((a, b) => a - b)
    console.log(`${s.name}: median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(3)} ms, min ${sorted[0]?.toFixed(3)}, max ${sorted[sorted.length - 1]?.toFixed(3)}`)
  }
} finally {
  for (const s of sides) {
    s.client.close()
    await s.pds.stop()
    rmSync(s.dataDir, { recursive: true, force: true })
  }
  await plc.close()
}
