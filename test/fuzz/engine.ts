// The fuzz run: requests generated from (seed, index) sent by a few concurrent workers to a
// Hearth process, each followed by a health check. A run fails on
//   - any 5xx, except a 502 or 504 that reports an upstream's failure (see isServerError);
//   - the process exiting (the requests in flight are named);
//   - a body over a limit left without an answer (the connection cut while the client wrote);
//   - /xrpc/_health not answering 200 within the health timeout after a request;
//   - an error reaching the server's last-resort handler (it logs the request it came from).
// It stops at `requests` or after `seconds`, whichever comes first, and reports its figures.
import { loadCatalogue } from './catalogue.ts'
import { describeRequest, type FuzzRequest, generateRequest, type GenWorld } from './requests.ts'
import { healthy, type Outcome, send } from './transport.ts'
import { repairAccounts, startWorld, type World } from './world.ts'

export interface FuzzOptions {
  seed: number
  requests: number
  seconds: number
  concurrency?: number
  /** The health check after each request must answer 200 within this (ms). */
  healthTimeoutMs?: number
  /** Accounts are checked and repaired every this many requests. */
  repairEvery?: number
  /** Print a progress line every this many requests (0: never). */
  progressEvery?: number
  log?: (line: string) => void
}

export interface Failure {
  index: number
  reason: string
  request: string
  status?: number
  response?: string
  /** Error lines Hearth logged while the request ran (with their stacks). */
  serverLog: string[]
}

export interface FuzzReport {
  seed: number
  sent: number
  elapsedMs: number
  byClass: Record<string, number>
  byLabel: Record<string, number>
  byAuth: Record<string, number>
  /** nsid → [sent, 2xx, 4xx, 5xx] for served methods. */
  byMethod: Record<string, [number, number, number, number]>
  notServed: number
  proxiedCalls: number
  /** 502/504 answers that reported an upstream's failure (not failures of the run). */
  upstream5xx: number
  repairs: number
  slowHealth: number
  /** Requests that got no HTTP answer, by kind, with the first few indexes (to replay). */
  noAnswer: Record<string, number[]>
  failures: Failure[]
  exited: string | null
}

function statusClass(o: Outcome): string {
  if (o.status === -1) return 'not sent'
  if (o.status === 0) return 'no answer'
  return `${Math.floor(o.status / 100)}xx`
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? ((line: string) => console.log(line))
  const concurrency = opts.concurrency ?? 4
  const healthTimeoutMs = opts.healthTimeoutMs ?? 1000
  const repairEvery = opts.repairEvery ?? 150
  const catalogue = await loadCatalogue()
  const world = await startWorld()
  const gen: GenWorld = { catalogue, pools: world.pools, car: world.car, accounts: world.accounts.length }
  const report: FuzzReport = {
    seed: opts.seed,
    sent: 0,
    elapsedMs: 0,
    byClass: {},
    byLabel: {},
    byAuth: {},
    byMethod: Object.fromEntries(catalogue.served.map((d) => [d.nsid, [0, 0, 0, 0]])),
    notServed: 0,
    proxiedCalls: 0,
    upstream5xx: 0,
    repairs: 0,
    slowHealth: 0,
    noAnswer: {},
    failures: [],
    exited: null,
  }
  log(`fuzz: seed ${opts.seed}, up to ${opts.requests} requests in ${opts.seconds} s, ${concurrency} at a time; ${catalogue.served.length} served methods, ${catalogue.proxied.length} proxied, ${catalogue.subscriptions.length} subscriptions; Hearth pid ${world.hearth.pid} at ${world.url}`)
  const inFlight = new Map<number, FuzzRequest>()
  const recent: Array<{ req: FuzzRequest; ended: number }> = []
  const serverLog: Array<{ at: number; line: string }> = []
  world.hearth.onLine((line) => {
    serverLog.push({ at: Date.now(), line })
    if (serverLog.length > 2000) serverLog.splice(0, 500)
    // An error no code handled, caught by the server's last resort: the process survived it, but
    // only by luck of that handler; the request it names is a bug all the same.
    if (line.includes('last-resort handler')) {
      const suspects = [...inFlight.values(), ...recent.slice(-4).map((r) => r.req)].sort((a, b) => a.index - b.index)
      report.failures.push({
        index: suspects.at(-1)?.index ?? -1,
        reason: `an error reached the last-resort handler; requests in flight or just answered: ${suspects.map((r) => r.index).join(', ')}`,
        request: suspects.map(describeRequest).join('\n    '),
        serverLog: [line],
      })
    }
  })
  const logBetween = (from: number, to: number) => serverLog.filter((l) => l.at >= from && l.at <= to + 250).map((l) => l.line)
  let closing = false
  world.hearth.exited.then(({ code, signal }) => {
    if (report.exited !== null || closing) return
    report.exited = `exit code ${code} signal ${signal}`
    // A stream error may end the process a moment after its request was answered: the last few
    // requests answered in the two seconds before are suspects too.
    const now = Date.now()
    const suspects = [...inFlight.values(), ...recent.filter((r) => r.ended > now - 2000).slice(-8).map((r) => r.req)].sort((a, b) => a.index - b.index)
    report.failures.push({
      index: suspects.at(-1)?.index ?? -1,
      reason: `the process exited (${report.exited}); requests in flight or just answered: ${suspects.map((r) => r.index).join(', ')}`,
      request: suspects.map(describeRequest).join('\n    '),
      serverLog: world.hearth.lines.slice(-40),
    })
  })

  const started = Date.now()
  const deadline = started + opts.seconds * 1000
  let next = 0
  let stop = false
  try {
    while (!stop && next < opts.requests && Date.now() < deadline) {
      const batchEnd = Math.min(opts.requests, next + repairEvery)
      const worker = async () => {
        while (!stop && next < batchEnd && Date.now() < deadline) {
          const index = next++
          const req = generateRequest(opts.seed, index, gen)
          inFlight.set(index, req)
          const outcome = await send(world.url, req, world.accounts)
          inFlight.delete(index)
          recent.push({ req, ended: outcome.ended })
          if (recent.length > 64) recent.shift()
          if (report.exited) {
            stop = true
            return
          }
          record(report, req, outcome)
          const reason = failureOf(req, outcome, world)
          if (reason !== null) {
            report.failures.push({
              index,
              reason,
              request: describeRequest(req),
              status: outcome.status,
              response: outcome.body.slice(0, 500),
              serverLog: logBetween(outcome.started, outcome.ended),
            })
          } else if (outcome.status >= 500) report.upstream5xx++
          if (!(await healthy(world.url, healthTimeoutMs))) {
            // Slow is not down: a loaded 2-core machine may take longer now and then; the
            // server must answer within a few tries, else the request left it unhealthy.
            report.slowHealth++
            let ok = false
            for (let i = 0; i < 4 && !ok && !report.exited; i++) ok = await healthy(world.url, healthTimeoutMs * 2)
            if (!ok && !report.exited) {
              report.failures.push({ index, reason: 'unhealthy after the request', request: describeRequest(req), status: outcome.status, serverLog: logBetween(outcome.started, Date.now()) })
              stop = true
            }
          }
          if (report.exited) stop = true
        }
      }
      await Promise.all(Array.from({ length: concurrency }, worker))
      const every = opts.progressEvery ?? 0
      if (every > 0 && Math.floor(next / every) > Math.floor((next - repairEvery) / every)) {
        log(`  ${next} requests, ${Math.round((Date.now() - started) / 1000)} s, ${report.failures.length} failures so far`)
      }
      if (!stop && !report.exited) {
        try {
          await repairAccounts(world)
        } catch (err) {
          if (!report.exited) throw err
        }
      }
    }
  } finally {
    // Let an exit that is under way be seen before the figures are made.
    await new Promise((r) => setTimeout(r, 100))
    report.elapsedMs = Date.now() - started
    report.repairs = world.repairs
    report.proxiedCalls = world.upstream.calls
    closing = true
    await world.close()
  }
  return report
}

function record(report: FuzzReport, req: FuzzRequest, o: Outcome): void {
  report.sent++
  const cls = statusClass(o)
  report.byClass[cls] = (report.byClass[cls] ?? 0) + 1
  report.byLabel[req.label] = (report.byLabel[req.label] ?? 0) + 1
  report.byAuth[req.auth] = (report.byAuth[req.auth] ?? 0) + 1
  if (o.status === 0) (report.noAnswer[req.label] ??= []).push(req.index)
  const row = req.nsid ? report.byMethod[req.nsid] : undefined
  if (!row) {
    report.notServed++
    return
  }
  row[0]++
  if (o.status >= 200 && o.status < 300) row[1]++
  else if (o.status >= 400 && o.status < 500) row[2]++
  else if (o.status >= 500) row[3]++
}

/**
 * Whether an outcome fails the run. A 502 or 504 is an upstream's failure, not Hearth's, when the
 * fake upstream was called during the request (for the method, or for what the method asks it
 * first: getFeed asks for the feed generator), or when the answer says an upstream failed and the
 * request named an identity hosted elsewhere (a did:web, whose document Hearth must fetch from
 * that host: unreachable from here).
 */
function failureOf(req: FuzzRequest, o: Outcome, world: World): string | null {
  // A body over a limit must get its 4xx (the rest drained), not a connection cut while the
  // client still writes: behind a reverse proxy that is a 502.
  if (req.label === 'huge' && req.kind === 'http' && o.status === 0) return `no answer to an over-limit body (${o.error ?? 'connection closed'})`
  return isServerError(req, o, world) ? `status ${o.status}` : null
}

function isServerError(req: FuzzRequest, o: Outcome, world: World): boolean {
  if (o.status < 500 || o.status > 599) return false
  if (o.status === 502 || o.status === 504) {
    if (req.nsid !== null && world.upstream.saw(req.nsid, o.started, o.ended)) return false
    // A method that asks the upstream something else first (getFeed: getFeedGenerator).
    if (world.upstream.saw(null, o.started, o.ended)) return false
    // The answer names the did:web it could not resolve (a body may be compressed, so the
    // request is not searched); a HEAD has no answer body, so its path must name it.
    const didWeb = /did(:|%3A)web(:|%3A)/i
    if (/"error":"Upstream(Failure|Timeout)"/.test(o.body) && didWeb.test(o.body)) return false
    if (req.method === 'HEAD' && o.body === '' && didWeb.test(req.path)) return false
  }
  return true
}

/** The figures, as lines. */
export function formatReport(r: FuzzReport): string[] {
  const lines: string[] = []
  const rate = r.elapsedMs > 0 ? Math.round((r.sent * 1000) / r.elapsedMs) : 0
  lines.push(`fuzz figures (seed ${r.seed}): ${r.sent} requests in ${(r.elapsedMs / 1000).toFixed(1)} s (${rate}/s)`)
  const fmt = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
  lines.push(`  by status: ${fmt(r.byClass)}`)
  lines.push(`  by kind:   ${fmt(r.byLabel)}`)
  lines.push(`  by auth:   ${fmt(r.byAuth)}`)
  const methods = Object.entries(r.byMethod).sort((a, b) => (a[0] < b[0] ? -1 : 1))
  const reached = methods.filter(([, v]) => v[1] > 0).length
  lines.push(`  served methods: ${methods.length}, called ${methods.filter(([, v]) => v[0] > 0).length}, answered 2xx ${reached}; ${r.notServed} requests to other paths; the upstream got ${r.proxiedCalls} calls; ${r.upstream5xx} answers were an upstream's 502/504`)
  lines.push(`  per method (sent/2xx/4xx/5xx):`)
  for (let i = 0; i < methods.length; i += 3) {
    lines.push(
      '    ' +
        methods
          .slice(i, i + 3)
          .map(([k, v]) => `${k} ${v.join('/')}`.padEnd(60))
          .join(''),
    )
  }
  const silent = Object.entries(r.noAnswer).map(([k, v]) => `${k} ${v.length} (${v.slice(0, 5).join(', ')}${v.length > 5 ? ', …' : ''})`)
  lines.push(`  no answer (aborted by the client, broken framing, or a connection the server cut): ${silent.join('; ') || 'none'}`)
  lines.push(`  account repairs: ${r.repairs}; slow health checks (> timeout, then answered): ${r.slowHealth}`)
  lines.push(`  process: ${r.exited === null ? 'still running at the end' : `EXITED (${r.exited})`}`)
  lines.push(`  failures: ${r.failures.length}`)
  for (const f of r.failures) {
    lines.push(`  - #${f.index}: ${f.reason}`)
    lines.push(`    request: ${f.request}`)
    if (f.response !== undefined) lines.push(`    response: ${f.response}`)
    for (const l of f.serverLog.slice(f.reason.startsWith('the process exited') ? -25 : -6)) lines.push(`    server: ${l.length > 1500 ? `${l.slice(0, 1500)}…` : l}`)
    if (f.index >= 0) lines.push(`    reproduce: npm run fuzz -- --seed ${r.seed} --only ${f.index}`)
  }
  return lines
}

/** Replays request `index` of `seed` on a fresh server and prints what happened. */
export async function reproduce(seed: number, index: number, log: (line: string) => void = (l) => console.log(l)): Promise<boolean> {
  const catalogue = await loadCatalogue()
  const world = await startWorld()
  try {
    const gen: GenWorld = { catalogue, pools: world.pools, car: world.car, accounts: world.accounts.length }
    const req = generateRequest(seed, index, gen)
    log(`request: ${describeRequest(req)}`)
    const outcome = await send(world.url, req, world.accounts)
    log(`response: status ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''} in ${outcome.ended - outcome.started} ms`)
    log(`  ${outcome.body.slice(0, 2000)}`)
    await new Promise((r) => setTimeout(r, 200))
    const alive = world.hearth.alive()
    const ok = alive && (await healthy(world.url, 1000))
    log(`process: ${alive ? 'running' : 'EXITED'}; health: ${ok ? '200' : 'NOT OK'}; upstream called for it: ${req.nsid !== null && world.upstream.saw(req.nsid, outcome.started, outcome.ended)}`)
    for (const line of world.hearth.lines) log(`server: ${line}`)
    const reason = failureOf(req, outcome, world)
    if (reason !== null) log(`FAILURE: ${reason}`)
    return ok && reason === null
  } finally {
    await world.close()
  }
}
