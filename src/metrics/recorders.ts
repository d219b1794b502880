// What the request path records into: counters and fixed-bucket histograms as plain numbers,
// with no Prometheus client behind them. prom-client (with @opentelemetry/api and its own
// modules, ~1.6 MB of an idle process) is loaded at the first scrape or export instead, and
// registers these objects as they are: each has the name, help, type and `get()` prom-client's
// registry reads from its own metrics, returning the same values in the same order (series in
// the order their labels were first seen; a histogram's cumulative buckets, +Inf, sum, count),
// so the exposition text is what prom-client's own Counter and Histogram would write.

export type LabelValue = string | number
export type Labels<L extends string> = Partial<Record<L, LabelValue>>

/** One reading, as prom-client's `metric.get()` gives it. */
export interface MetricValue {
  value: number
  labels: Record<string, LabelValue>
  metricName?: string
  /** Always null here (a histogram bucket's; prom-client fills it only with exemplars on). */
  exemplar?: null
}

export interface MetricReading {
  name: string
  help: string
  type: 'counter' | 'histogram'
  values: MetricValue[]
  aggregator: 'sum'
}

function seriesKey(labelNames: readonly string[], labels: Record<string, LabelValue | undefined>): string {
  let key = ''
  for (const name of labelNames) key += `${labels[name] ?? ''}\u0000`
  return key
}

function assertKnownLabels(metric: string, labelNames: readonly string[], labels: object): void {
  for (const name of Object.keys(labels)) {
    if (!labelNames.includes(name)) throw new Error(`Added label "${name}" is not included in initial labelset of ${metric}`)
  }
}

export class CounterRecorder<L extends string = never> {
  readonly type = 'counter' as const
  readonly aggregator = 'sum' as const
  readonly #series = new Map<string, MetricValue>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[] = [],
  ) {
    // As prom-client: a counter without labels reads 0 before its first increment.
    if (labelNames.length === 0) this.#series.set('', { value: 0, labels: {} })
  }

  inc(labels?: Labels<L>, value = 1): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
    if (value < 0) throw new Error('It is not possible to decrease a counter')
    const given = (labels ?? {}) as Record<string, LabelValue>
    const key = seriesKey(this.labelNames, given)
    const series = this.#series.get(key)
    if (series) {
      series.value += value
      return
    }
    assertKnownLabels(this.name, this.labelNames, given)
    this.#series.set(key, { value, labels: given })
  }

  /** The sum over every label set. */
  total(): number {
    let n = 0
    for (const s of this.#series.values()) n += s.value
    return n
  }

  async get(): Promise<MetricReading> {
    const values = [...this.#series.values()].map((s) => ({ value: s.value, labels: s.labels }))
    return { help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator }
  }
}

interface HistogramSeries {
  labels: Record<string, LabelValue>
  /** Observations per bucket (not cumulative), one per upper bound. */
  buckets: number[]
  sum: number
  count: number
}

/** A series of a histogram, for callers that observe the same labels over and over. */
export interface Observer {
  observe(value: number): void
}

export class HistogramRecorder<L extends string = never> {
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly #series = new Map<string, HistogramSeries>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    readonly upperBounds: readonly number[],
  ) {}

  /** The series of these labels, created on first use. */
  labels(labels: Labels<L>): Observer {
    const given = labels as Record<string, LabelValue>
    const key = seriesKey(this.labelNames, given)
    let series = this.#series.get(key)
    if (!series) {
      assertKnownLabels(this.name, this.labelNames, given)
      series = { labels: given, buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    const s = series
    const bounds = this.upperBounds
    return {
      observe(value: number) {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]) {
            s.buckets[i]++
            break
          }
        }
        s.sum += value
        s.count++
      },
    }
  }

  /** Observations over every label set. */
  count(): number {
    let n = 0
    for (const s of this.#series.values()) n += s.count
    return n
  }

  /** The cumulative buckets (upper bound → observations at or under it, +Inf included) summed over every label set. */
  cumulativeBuckets(): Map<number, number> {
    const out = new Map<number, number>()
    for (const s of this.#series.values()) {
      let acc = 0
      this.upperBounds.forEach((le, i) => {
        acc += s.buckets[i]
        out.set(le, (out.get(le) ?? 0) + acc)
      })
      out.set(Infinity, (out.get(Infinity) ?? 0) + s.count)
    }
    return out
  }

  async get(): Promise<MetricReading> {
    const values: MetricValue[] = []
    const bucket = `${this.name}_bucket`
    for (const s of this.#series.values()) {
      let acc = 0
      this.upperBounds.forEach((le, i) => {
        acc += s.buckets[i]
        values.push({ value: acc, metricName: bucket, exemplar: null, labels: { le, ...s.labels } })
      })
      values.push(
        { value: s.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...s.labels } },
        { value: s.sum, metricName: `${this.name}_sum`, labels: { ...s.labels } },
        { value: s.count, metricName: `${this.name}_count`, labels: { ...s.labels } },
      )
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}
