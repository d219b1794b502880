// A short history of the process's metrics, for the operator dashboard's activity charts: every
// interval (a minute) the sampler reads the same recorders /metrics exports and keeps the reading
// in a fixed ring (24 hours at one a minute: 1440 × 8 numbers, about 90 KB). Reading happens on an
// unref'd timer, never on a request; a dashboard that draws from these samples and from
// `current()` shows what a Prometheus scrape would, without needing a Prometheus.
//
// Only the few metrics the dashboard draws are read, straight from the recorders (prom-client is
// not loaded for it), so a sample starts no blob-store walk and stats no database file. The
// event-loop delay gauges report the window since their previous reading, whoever read them; a
// sample a minute barely shortens a scraper's window.
import { accountCreated, commits, eventLoopDelayP99, firehoseSubscriberCount, requestDuration, sessionCreated } from './index.ts'

export interface MetricsSample {
  /** When it was taken (ms since the epoch, by the sampler's clock). */
  at: number
  /** account_created_total, all labels. */
  accountsCreated: number
  /** session_created_total, all labels: sign-ins, app and OAuth alike. */
  sessionsCreated: number
  /** hearth_commits_total. */
  commits: number
  /** http_server_request_duration_seconds_count, all labels. */
  requests: number
  /** The 99th percentile request duration (seconds) since the previous sample; null without requests. */
  requestP99: number | null
  /** hearth_firehose_subscribers. */
  firehoseSubscribers: number
  /** nodejs_eventloop_delay_p99_seconds; null before the runtime metrics have a reading. */
  eventLoopDelayP99: number | null
}

/** The figures of one reading, as /metrics would show them at that moment. */
export type MetricsFigures = Omit<MetricsSample, 'at' | 'requestP99'>

const FIELDS = ['at', 'accountsCreated', 'sessionsCreated', 'commits', 'requests', 'requestP99', 'firehoseSubscribers', 'eventLoopDelayP99'] as const

export interface MetricsSamplerOptions {
  /** Between samples (60 s). */
  intervalMs?: number
  /** Samples kept (1440: a day at one a minute). */
  capacity?: number
  /** The clock samples are stamped with (Date.now). */
  now?: () => number
}

export class MetricsSampler {
  readonly intervalMs: number
  readonly capacity: number
  private readonly now: () => number
  private readonly ring: Float64Array
  private count = 0
  private next = 0
  private timer: NodeJS.Timeout | null = null
  /** The cumulative request-duration buckets (le → count) at the previous sample. */
  private lastBuckets: Map<number, number> | null = null

  constructor(opts: MetricsSamplerOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 60_000
    this.capacity = opts.capacity ?? 1440
    this.now = opts.now ?? Date.now
    this.ring = new Float64Array(this.capacity * FIELDS.length)
  }

  /** Samples every interval from now on (and once right away); the timer keeps no process alive. */
  start(): this {
    if (this.timer) return this
    const tick = () => void this.sample().catch(() => {})
    tick()
    this.timer = setInterval(tick, this.intervalMs)
    this.timer.unref()
    return this
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Takes one sample now. */
  async sample(): Promise<MetricsSample> {
    const figures = await readFigures()
    const buckets = requestDuration.cumulativeBuckets()
    const sample: MetricsSample = { at: this.now(), ...figures, requestP99: this.lastBuckets ? quantile(0.99, this.lastBuckets, buckets) : null }
    this.lastBuckets = buckets
    const base = this.next * FIELDS.length
    FIELDS.forEach((f, i) => (this.ring[base + i] = sample[f] ?? NaN))
    this.next = (this.next + 1) % this.capacity
    this.count = Math.min(this.count + 1, this.capacity)
    return sample
  }

  /** The samples kept, oldest first. */
  samples(): MetricsSample[] {
    const out: MetricsSample[] = []
    for (let k = 0; k < this.count; k++) {
      const base = ((this.next - this.count + k + this.capacity) % this.capacity) * FIELDS.length
      const r = this.ring
      const orNull = (v: number) => (Number.isNaN(v) ? null : v)
      out.push({
        at: r[base],
        accountsCreated: r[base + 1],
        sessionsCreated: r[base + 2],
        commits: r[base + 3],
        requests: r[base + 4],
        requestP99: orNull(r[base + 5]),
        firehoseSubscribers: r[base + 6],
        eventLoopDelayP99: orNull(r[base + 7]),
      })
    }
    return out
  }
}

let shared: MetricsSampler | null = null

/** The process's sampler (the metrics are the process's too), started on first use. */
export function metricsSampler(): MetricsSampler {
  return (shared ??= new MetricsSampler().start())
}

/** Replaces the process's sampler (a test's, with its own clock or interval); stops the one before. */
export function useMetricsSampler(sampler: MetricsSampler): void {
  shared?.stop()
  shared = sampler
}

/** The figures as /metrics would show them now. */
export async function readFigures(): Promise<MetricsFigures> {
  return {
    accountsCreated: accountCreated.total(),
    sessionsCreated: sessionCreated.total(),
    commits: commits.total(),
    requests: requestDuration.count(),
    firehoseSubscribers: firehoseSubscriberCount(),
    eventLoopDelayP99: eventLoopDelayP99(),
  }
}

/**
 * The q-quantile of the observations between two readings of cumulative buckets, interpolated
 * within its bucket as Prometheus's histogram_quantile does (the highest finite bound when it
 * falls in +Inf); null when there were none.
 */
export function quantile(q: number, before: Map<number, number>, after: Map<number, number>): number | null {
  const les = [...after.keys()].sort((a, b) => a - b)
  const counts = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0))
  const total = counts.at(-1) ?? 0
  if (total <= 0) return null
  const rank = q * total
  let i = counts.findIndex((c) => c >= rank)
  if (i < 0) i = les.length - 1
  if (les[i] === Infinity) return les.length > 1 ? les[les.length - 2] : null
  const lower = i === 0 ? 0 : les[i - 1]
  const below = i === 0 ? 0 : counts[i - 1]
  const inBucket = counts[i] - below
  return inBucket > 0 ? lower + (les[i] - lower) * ((rank - below) / inBucket) : les[i]
}
