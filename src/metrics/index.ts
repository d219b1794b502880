// The process's metrics, for the Prometheus endpoint (`/metrics`, admin auth) and OTLP push.
// Names follow the official PDS where it has one, so the official installer's Grafana dashboard
// reads Hearth unchanged. The official 0.5 has no /metrics: it pushes OpenTelemetry metrics
// (its events.ts counters `account.created`, `session.created`, `oauth.authorization`; the HTTP
// instrumentation's `http.server.request.duration` under the stable conventions its monitoring
// guide turns on; the Node runtime instrumentation's `nodejs.eventloop.*` and `v8js.memory.*`),
// which Prometheus's OTLP receiver names account_created_total, http_server_request_duration_seconds,
// nodejs_eventloop_utilization_ratio, nodejs_eventloop_delay_p99_seconds,
// v8js_memory_heap_used_bytes and so on: those are the names (and label values) used here.
// Hearth's own are prefixed `hearth_`; prom-client's default process and Node metrics come too.
//
// Kept cheap on the hot path, and off an idle server's memory: the request path records into
// Hearth's own counters and histograms (recorders.ts: an add and a bucket search per observation;
// histogram series are cached per label set, so a request allocates no label objects), and
// prom-client is loaded on the first scrape or export, which registers those recorders and the
// scrape-time gauges (values that live in stores: firehose subscribers, file sizes).
import { createRequire } from 'node:module'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8'
import type { Registry } from 'prom-client'
import { CounterRecorder, HistogramRecorder, type Observer } from './recorders.ts'

/** As official: source is the XRPC method (or oauth); deactivated is true for a DID moving in. */
export const accountCreated = new CounterRecorder(
  'account_created_total',
  'Number of accounts created on this PDS (source: how; deactivated: created for a DID moving in)',
  ['source', 'deactivated'] as const,
)

export const sessionCreated = new CounterRecorder(
  'session_created_total',
  'Number of sessions created on this PDS (source: com.atproto.server.createAccount, com.atproto.server.createSession or oauth)',
  ['source'] as const,
)

export const oauthAuthorization = new CounterRecorder(
  'oauth_authorization_total',
  'Increased when an OAuth authorization is granted on this PDS',
  ['clientFirstParty'] as const,
)

export const requestDuration = new HistogramRecorder(
  'http_server_request_duration_seconds',
  'HTTP requests served, by method, route (the XRPC method or path pattern) and status',
  ['http_request_method', 'http_route', 'http_response_status_code'] as const,
  // The stable HTTP conventions' boundaries, as the official's instrumentation uses them.
  [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
)

const requestChildren = new Map<string, Map<number, Observer>>()

/** One served request; `route` must come from a bounded set (registered methods and routes). */
export function observeRequest(method: string, route: string, status: number, seconds: number): void {
  const key = method + ' ' + route
  let byStatus = requestChildren.get(key)
  if (!byStatus) requestChildren.set(key, (byStatus = new Map()))
  let child = byStatus.get(status)
  if (!child) {
    child = requestDuration.labels({ http_request_method: method, http_route: route, http_response_status_code: status })
    byStatus.set(status, child)
  }
  child.observe(seconds)
}

export const commits = new CounterRecorder('hearth_commits_total', 'Repository commits sequenced (the firehose #commit events)')

/** What a running server reports when scraped (one per server in the process). */
export interface MetricSource {
  firehoseSubscribers(): number
  /** Database files by name (account, sequencer, did_cache, plc…) → bytes, -wal included. */
  sqliteBytes(): Record<string, number>
  /** Bytes in the blob store as last measured; null when not (yet) known. */
  blobBytes(): number | null
  /** When the last `hearth backup` of this data directory was taken (ms), or null. */
  lastBackupAt(): number | null
}

const sources = new Set<MetricSource>()

/** Adds a server's source; returns its removal. */
export function addMetricSource(source: MetricSource): () => void {
  sources.add(source)
  return () => sources.delete(source)
}

/** Open subscribeRepos connections, over every server in the process. */
export function firehoseSubscriberCount(): number {
  let n = 0
  for (const s of sources) n += s.firehoseSubscribers()
  return n
}

type PromClient = typeof import('prom-client')
const requireModule = createRequire(import.meta.url)
let prom: PromClient | null = null
let promRegistry: Registry | null = null

/**
 * The prom-client registry, built on first use: prom-client loaded (a CommonJS package, so a
 * plain require() on any Node and under tsx), the recorders registered in the order they were
 * always exposed, then the scrape-time gauges.
 */
function prometheus(): Registry {
  if (promRegistry !== null) return promRegistry
  prom = requireModule('prom-client') as PromClient
  const reg = new prom.Registry()
  for (const recorder of [accountCreated, sessionCreated, oauthAuthorization, requestDuration, commits]) {
    // A duck-typed metric: prom-client's registry only reads name, type and get() (see recorders.ts).
    reg.registerMetric(recorder as unknown as Parameters<Registry['registerMetric']>[0])
  }
  new prom.Gauge({
    name: 'hearth_firehose_subscribers',
    help: 'Open subscribeRepos connections',
    registers: [reg],
    collect() {
      this.set(firehoseSubscriberCount())
    },
  })

  new prom.Gauge({
    name: 'hearth_sqlite_bytes',
    help: 'Size of each SQLite database file, its write-ahead log included',
    labelNames: ['db'] as const,
    registers: [reg],
    collect() {
      this.reset()
      for (const s of sources) for (const [db, bytes] of Object.entries(s.sqliteBytes())) this.inc({ db }, bytes)
    },
  })

  new prom.Gauge({
    name: 'hearth_blob_store_bytes',
    help: 'Bytes in the disk blob store (measured in the background, at most every 5 minutes; 0 until the first measure)',
    registers: [reg],
    collect() {
      let total: number | null = null
      for (const s of sources) {
        const b = s.blobBytes()
        if (b !== null) total = (total ?? 0) + b
      }
      if (total !== null) this.set(total)
    },
  })

  new prom.Gauge({
    name: 'hearth_backup_last_timestamp_seconds',
    help: 'When the last hearth backup of the data directory was taken (Unix seconds); 0 before the first',
    registers: [reg],
    collect() {
      let latest: number | null = null
      for (const s of sources) {
        const at = s.lastBackupAt()
        if (at !== null && (latest === null || at > latest)) latest = at
      }
      if (latest !== null) this.set(latest / 1000)
    },
  })
  return (promRegistry = reg)
}

/**
 * prom-client's registry of every metric (what /metrics exposes), for tests and tools that read
 * it directly: accessing it loads prom-client, so nothing on the request path does.
 */
export const registry: Registry = new Proxy({} as Registry, {
  get(_target, key) {
    const reg = prometheus()
    const value = Reflect.get(reg, key, reg) as unknown
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(reg) : value
  },
})

let runtimeStarted = false

/**
 * The Node runtime's metrics (event-loop delay and utilization, heap, GC, CPU): once per process,
 * at the first scrape or OTLP export rather than at start. Their two event-loop delay monitors
 * (prom-client's and ours) each hold a ~360 KB native histogram and wake the event loop every
 * 10 ms: an idle server that nobody scrapes pays for neither. The delay figures are per window
 * since the previous scrape anyway; the GC counters count from the first scrape.
 */
function startRuntimeMetrics(): Registry {
  const reg = prometheus()
  if (runtimeStarted) return reg
  runtimeStarted = true
  const { collectDefaultMetrics, Gauge } = prom!
  collectDefaultMetrics({ register: reg })
  let last = performance.eventLoopUtilization()
  new Gauge({
    name: 'nodejs_eventloop_utilization_ratio',
    help: 'Event loop utilization: share of time the event loop was busy since the previous scrape (0..1)',
    registers: [reg],
    collect() {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, last).utilization)
      last = now
    },
  })
  startEventLoopDelayMetrics(reg, Gauge)
  startHeapMetrics(reg, Gauge)
  return reg
}

type DelayStat = 'min' | 'max' | 'mean' | 'stddev' | 'p50' | 'p90' | 'p99'

/** The delay figures' reader, once the runtime metrics have started. */
let readDelay: (() => Record<DelayStat, number> | null) | null = null

/**
 * nodejs_eventloop_delay_p99_seconds as a scrape would read it now (and, like a scrape, ending
 * its window): null before the runtime metrics have started, 0 until their first figures.
 */
export function eventLoopDelayP99(): number | null {
  if (readDelay === null) return null
  return readDelay()?.p99 ?? 0
}

/**
 * nodejs_eventloop_delay_{min,max,mean,stddev,p50,p90,p99}_seconds over the window since the
 * previous scrape, sampled every 10 ms, as the official's runtime instrumentation reports them
 * (which also keeps its last figures until a window holds 5 samples). The seven gauges of one
 * scrape share one reading of the histogram, which is then reset.
 */
function startEventLoopDelayMetrics(reg: Registry, Gauge: PromClient['Gauge']): void {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  let stats: Record<DelayStat, number> | null = null
  let readAt = 0
  const read = (readDelay = (): Record<DelayStat, number> | null => {
    const now = Date.now()
    if (now - readAt > 1000 && histogram.count >= 5) {
      const s = (ns: number) => (Number.isNaN(ns) ? 0 : ns / 1e9)
      stats = {
        min: s(histogram.min),
        max: s(histogram.max),
        mean: s(histogram.mean),
        stddev: s(histogram.stddev),
        p50: s(histogram.percentile(50)),
        p90: s(histogram.percentile(90)),
        p99: s(histogram.percentile(99)),
      }
      histogram.reset()
      readAt = now
    }
    return stats
  })
  for (const stat of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const) {
    new Gauge({
      name: `nodejs_eventloop_delay_${stat}_seconds`,
      help: `Event loop ${stat} delay since the previous scrape`,
      registers: [reg],
      collect() {
        const got = read()
        if (got) this.set(got[stat])
      },
    })
  }
}

/** The V8 heap as the official's runtime instrumentation reports it: the limit, and per heap space. */
function startHeapMetrics(reg: Registry, Gauge: PromClient['Gauge']): void {
  new Gauge({
    name: 'v8js_memory_heap_limit_bytes',
    help: 'Maximum heap size allowed by the V8 engine',
    registers: [reg],
    collect() {
      this.set(getHeapStatistics().heap_size_limit)
    },
  })
  const perSpace = [
    ['v8js_memory_heap_space_size_bytes', 'Total heap memory size pre-allocated for a heap space', 'space_size'],
    ['v8js_memory_heap_used_bytes', 'Heap memory used by a heap space', 'space_used_size'],
    ['v8js_memory_heap_space_available_size_bytes', 'Heap space available size', 'space_available_size'],
    ['v8js_memory_heap_space_physical_size_bytes', 'Committed size of a heap space', 'physical_space_size'],
  ] as const
  for (const [name, help, field] of perSpace) {
    new Gauge({
      name,
      help,
      labelNames: ['v8js_heap_space_name'] as const,
      registers: [reg],
      collect() {
        for (const space of getHeapSpaceStatistics()) this.set({ v8js_heap_space_name: space.space_name }, space[field])
      },
    })
  }
}

/** The Prometheus text exposition of every metric. */
export async function exposition(): Promise<{ contentType: string; body: string }> {
  const reg = startRuntimeMetrics()
  return { contentType: reg.contentType, body: await reg.metrics() }
}

/**
 * OTLP push of the same metrics, for operators whose collector takes OTLP rather than scraping
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, and the exporter's other standard OTEL_* variables: headers,
 * protocol-specific endpoint, timeout). The OpenTelemetry SDK is imported only here, so a server
 * without the variable loads none of it. The prom-client registry stays the one source: a
 * producer hands its values to the SDK's reader at each export, as cumulative sums, gauges and
 * explicit-bucket histograms under the same names. Returns what stops the push.
 */
export async function startOtlpPush(opts: { intervalMs?: number; url?: string; serviceVersion?: string } = {}): Promise<() => Promise<void>> {
  const [sdk, { OTLPMetricExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-metrics-otlp-http'),
    import('@opentelemetry/resources'),
  ])
  type MetricData = import('@opentelemetry/sdk-metrics').MetricData
  const resource = resourceFromAttributes({ 'service.name': 'hearth', 'service.version': opts.serviceVersion ?? 'unknown' })
  const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)]
  const startTime = hr(Date.now())
  const DOUBLE = 1 // @opentelemetry/api's ValueType.DOUBLE
  const producer = {
    async collect() {
      const reg = startRuntimeMetrics()
      const endTime = hr(Date.now())
      const metrics: MetricData[] = []
      for (const family of await reg.getMetricsAsJSON()) {
        const descriptor = { name: family.name, description: family.help, unit: '', valueType: DOUBLE }
        const base = { descriptor, aggregationTemporality: sdk.AggregationTemporality.CUMULATIVE }
        const values = family.values as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>
        const type = String(family.type)
        if (type === 'counter' || type === 'gauge') {
          const dataPoints = values.map((v) => ({ startTime, endTime, attributes: v.labels, value: v.value }))
          metrics.push(
            type === 'counter'
              ? { ...base, dataPointType: sdk.DataPointType.SUM, isMonotonic: true, dataPoints }
              : { ...base, dataPointType: sdk.DataPointType.GAUGE, dataPoints },
          )
        } else if (type === 'histogram') {
          // prom-client's buckets are cumulative and carry `le`; OTLP's are per bucket.
          const series = new Map<string, { attributes: Record<string, string | number>; les: Array<[number, number]>; sum: number; count: number }>()
          for (const v of values) {
            const { le, ...attributes } = v.labels
            const key = JSON.stringify(attributes)
            let s = series.get(key)
            if (!s) series.set(key, (s = { attributes, les: [], sum: 0, count: 0 }))
            if (v.metricName?.endsWith('_bucket')) s.les.push([le === '+Inf' ? Infinity : Number(le), v.value])
            else if (v.metricName?.endsWith('_sum')) s.sum = v.value
            else if (v.metricName?.endsWith('_count')) s.count = v.value
          }
          const dataPoints = [...series.values()].map((s) => {
            s.les.sort((a, b) => a[0] - b[0])
            const boundaries = s.les.filter(([le]) => le !== Infinity).map(([le]) => le)
            const counts = s.les.map(([, c], i) => c - (i > 0 ? s.les[i - 1][1] : 0))
            return { startTime, endTime, attributes: s.attributes, value: { buckets: { boundaries, counts }, sum: s.sum, count: s.count } }
          })
          metrics.push({ ...base, dataPointType: sdk.DataPointType.HISTOGRAM, dataPoints })
        }
      }
      return { resourceMetrics: { resource, scopeMetrics: [{ scope: { name: 'hearth' }, metrics }] }, errors: [] }
    },
  }
  const reader = new sdk.PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter(opts.url ? { url: opts.url } : {}),
    exportIntervalMillis: opts.intervalMs ?? 60_000,
    metricProducers: [producer],
  })
  const provider = new sdk.MeterProvider({ resource, readers: [reader] })
  return () => provider.shutdown()
}
