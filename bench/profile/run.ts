// `node --import tsx bench/profile/run.ts <create|apply|get|list|getRepo|blob> [requests]`: starts Hearth
// from source (so that profile frames name src/ files) under --cpu-prof, sets up an account
// (1,000 posts for get/list, 2,000 for getRepo; `apply` is applyWrites of 10 creates; `blob` uploads 1 MiB of distinct incompressible
// bytes each time), sends the requests one at a time, stops the
// server, and prints the server's CPU per request (from /proc/<pid>/stat) and the breakdown of
// the profiled window by category (breakdown.mjs). The profile stays in the printed folder.
// WARM=<n> sends n createRecords before the profiled window (3600: the bench's settled state).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferencePlc } from '../../test/identity/helpers.ts'
import { xrpcClient } from '../server/client.ts'
import { freePort, hearthEnv, readCpuMs, spawnPds } from '../server/processes.ts'

const op = process.argv[2] ?? 'create'
const DEFAULT_N: Record<string, number> = { create: 1500, apply: 300, get: 2000, list: 600, getRepo: 40, blob: 300 }
if (!(op in DEFAULT_N)) throw new Error(`unknown request kind ${op}: one of ${Object.keys(DEFAULT_N).join(', ')}`)
const N = Number(process.argv[3] ?? DEFAULT_N[op])
const profDir = mkdtempSync(join(tmpdir(), `hearth-profile-${op}-`))
const dataDir = mkdtempSync(join(tmpdir(), 'hearth-profile-data-'))
const plc = await startReferencePlc()
const port = await freePort()
const env = hearthEnv(port, dataDir, plc.url)
const url = `http://127.0.0.1:${port}`
const args = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=200', '--max-semi-space-size=2', 'bin/hearth.js', 'serve']
const { child, stop } = await spawnPds({ name: 'Hearth', args, env, url, timeoutMs: 60_000 })
const client = xrpcClient(url)
let window = ''
try {
  const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: 'profile.pds.bench.test', email: 'profile@bench.test', password: 'password-profile' },
  })) as { did: string; accessJwt: string }
  const post = (i: number) => ({
    $type: 'app.bsky.feed.post',
    text: `profile post ${i}: a sentence or two of ordinary length, like most posts are.`,
    createdAt: new Date(1.7e12 + i * 1000).toISOString(),
  })
  const rkeys: string[] = []
  const setup = op === 'create' || op === 'apply' ? 0 : op === 'getRepo' ? 2000 : 1000
  for (let i = 0; i < setup; i += 100) {
    const writes = Array.from({ length: 100 }, (_, j) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post(i + j) }))
    const res = (await client.call('POST', 'com.atproto.repo.applyWrites', { token: acct.accessJwt, json: { repo: acct.did, writes } })) as {
      results: Array<{ uri: string }>
    }
    for (const r of res.results) rkeys.push(r.uri.slice(r.uri.lastIndexOf('/') + 1))
  }
  // Distinct bytes per upload (a sha256 chain), made before the timed loop.
  const blobs =
    op === 'blob'
      ? Array.from({ length: N }, (_, i) => {
          const out = Buffer.alloc(1024 * 1024)
          let block = createHash('sha256').update(`profile blob ${i}`).digest()
          for (let o = 0; o < out.length; o += 32) {
            block.copy(out, o)
            block = createHash('sha256').update(block).digest()
          }
          return out
        })
      : []
  // WARM=n: n createRecords first (outside the profiled window), for the settled state.
  const warm = Number(process.env.WARM ?? 0)
  for (let i = 0; i < warm; i++) {
    await client.call('POST', 'com.atproto.repo.createRecord', { token: acct.accessJwt, json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post(-1 - i) } })
  }
  const pid = child.pid as number
  const cpu0 = readCpuMs(pid)
  // The profile's timestamps and hrtime share the monotonic clock: the window is the timed loop.
  const h0 = process.hrtime.bigint() / 1000n
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    if (op === 'create') {
      await client.call('POST', 'com.atproto.repo.createRecord', { token: acct.accessJwt, json: { repo: acct.did, collection: 'app.bsky.feed.post', record: post(i) } })
    } else if (op === 'apply') {
      const writes = Array.from({ length: 10 }, (_, j) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post(i * 10 + j) }))
      await client.call('POST', 'com.atproto.repo.applyWrites', { token: acct.accessJwt, json: { repo: acct.did, writes } })
    } else if (op === 'get') {
      await client.call('GET', 'com.atproto.repo.getRecord', { params: { repo: acct.did, collection: 'app.bsky.feed.post', rkey: rkeys[(i * 7919) % rkeys.length] as string } })
    } else if (op === 'list') {
      await client.call('GET', 'com.atproto.repo.listRecords', { params: { repo: acct.did, collection: 'app.bsky.feed.post', limit: '100' } })
    } else if (op === 'blob') {
      await client.call('POST', 'com.atproto.repo.uploadBlob', { token: acct.accessJwt, body: blobs[i] as Buffer, contentType: 'application/octet-stream' })
    } else {
      const res = await fetch(`${url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(acct.did)}`)
      await res.arrayBuffer()
    }
  }
  const ms = performance.now() - t0
  window = `${h0} ${process.hrtime.bigint() / 1000n}`
  const cpu1 = readCpuMs(pid)
  const cpu = cpu0 === null || cpu1 === null ? 'n/a' : `${((cpu1 - cpu0) / N).toFixed(3)} ms`
  console.log(`${op}: ${N} in ${ms.toFixed(0)} ms (${((N * 1000) / ms).toFixed(0)}/s), server CPU per request ${cpu}`)
} finally {
  client.close()
  await stop()
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
}
console.log(`profile in ${profDir} (window ${window} µs)`)
const breakdown = fileURLToPath(new URL('./breakdown.mjs', import.meta.url))
process.stdout.write(execFileSync(process.execPath, [breakdown, profDir, String(N), window], { encoding: 'utf8', env: process.env }))
