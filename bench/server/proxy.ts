// The proxy row of the server benchmark: getTimeline through each PDS to one small loopback
// AppView (canned timeline, no token check: the row measures the PDS, not the AppView), beside
// the same request straight to the AppView. "Added p99" is the PDS's p99 minus the direct p99.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { xrpcClient } from './client.ts'
import { percentile } from './workload.ts'

const SCALE = Number(process.env.BENCH_SERVER_SCALE ?? 1)
export const PROXY_COUNTS = {
  warmup: 50,
  clients: 8,
  perClient: Math.max(1, Math.round(100 * SCALE)),
}

export interface BenchAppView {
  url: string
  did: string
  /** Settings both PDSes get so that they proxy app.bsky.* to it. */
  env: Record<string, string>
  close(): Promise<void>
}

export interface ProxyResults {
  proxyTimelineOps: number
  proxyTimelineP99Added: number
}

const TIMELINE = JSON.stringify({
  cursor: 'c1',
  feed: Array.from({ length: 30 }, (_, i) => ({
    post: {
      uri: `at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3kabcabcab${String(i).padStart(3, '2')}`,
      cid: 'bafyreihltcnuuyqp2jm24aqydpnlj7b6w3ogwrplomrjtg5rifv44mmjey',
      author: { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', handle: 'other.bench.test', displayName: 'Someone Else' },
      record: { $type: 'app.bsky.feed.post', text: `a post of ordinary length number ${i}, like most posts are.`, createdAt: '2024-01-01T00:00:00.000Z' },
      replyCount: 0,
      repostCount: 0,
      likeCount: 0,
      quoteCount: 0,
      indexedAt: '2024-01-01T00:00:00.000Z',
    },
  })),
})

export async function startBenchAppView(): Promise<BenchAppView> {
  const server = http.createServer((req, res) => {
    req.resume()
    // A rev after any the PDS has: nothing to patch, as with an up-to-date AppView.
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(TIMELINE), 'atproto-repo-rev': 'zzzzzzzzzzzzz' })
    res.end(TIMELINE)
  })
  server.keepAliveTimeout = 90_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const did = 'did:web:appview.bench.test'
  return {
    url,
    did,
    // The official PDS guards every proxied destination unless told not to: the AppView is on loopback.
    env: { PDS_BSKY_APP_VIEW_URL: url, PDS_BSKY_APP_VIEW_DID: did, PDS_DISABLE_SSRF_PROTECTION: 'true' },
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

async function timed(clients: number, perClient: number, call: () => Promise<unknown>): Promise<{ ops: number; p99: number }> {
  const lat: number[] = []
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) {
        const t = performance.now()
        await call()
        lat.push(performance.now() - t)
      }
    }),
  )
  const ms = performance.now() - started
  lat.sort((a, b) => a - b)
  return { ops: (lat.length / ms) * 1000, p99: percentile(lat, 99) }
}

export async function runProxyWorkload(pdsUrl: string, appView: BenchAppView, log: (line: string) => void): Promise<ProxyResults> {
  const pds = xrpcClient(pdsUrl)
  const direct = xrpcClient(appView.url)
  try {
    const acct = (await pds.call('POST', 'com.atproto.server.createAccount', {
      json: { handle: 'bench-proxy.pds.bench.test', email: 'bench-proxy@bench.test', password: 'password-bench-proxy' },
    })) as { did: string; accessJwt: string }
    const viaPds = () => pds.call('GET', 'app.bsky.feed.getTimeline', { token: acct.accessJwt, params: { limit: '30' } })
    const straight = () => direct.call('GET', 'app.bsky.feed.getTimeline', { params: { limit: '30' } })
    for (let i = 0; i < PROXY_COUNTS.warmup; i++) await viaPds()
    for (let i = 0; i < PROXY_COUNTS.warmup; i++) await straight()
    const base = await timed(PROXY_COUNTS.clients, PROXY_COUNTS.perClient, straight)
    const proxied = await timed(PROXY_COUNTS.clients, PROXY_COUNTS.perClient, viaPds)
    const added = Math.max(0, proxied.p99 - base.p99)
    log(`  getTimeline via proxy x${PROXY_COUNTS.clients}: ${proxied.ops.toFixed(0)}/s, p99 ${proxied.p99.toFixed(2)} ms (direct ${base.p99.toFixed(2)} ms)`)
    return { proxyTimelineOps: proxied.ops, proxyTimelineP99Added: added }
  } finally {
    pds.close()
    direct.close()
  }
}
