// The dashboard's recent activity: the figures /metrics exports right now, charts of their
// recent history drawn from the metrics sampler's readings (src/metrics/history.ts), and the
// two charts that must reach back before this process started, drawn from the databases and
// labelled so.
import type { MetricsFigures, MetricsSample } from '../../metrics/history.ts'
import { type Bar, barChart, levelChart } from './chart.ts'
import { html, type Html } from './html.ts'

export interface ActivityView {
  /** Read from the metrics when the page was made. */
  now: MetricsFigures
  samples: MetricsSample[]
  intervalMs: number
  commitsPerHour: Array<{ hour: string; count: number }>
  signupsPerDay: Array<{ day: string; count: number }>
}

/** Bars drawn from samples: at most this many (a day of minutes becomes half-hour bars). */
export const MAX_BARS = 48

interface Span {
  end: MetricsSample
  seconds: number
  accounts: number
  sessions: number
  commits: number
  requests: number
  requestP99: number
  loopP99: number
}

/** The intervals between consecutive samples, in groups of `per`, the newest group complete. */
export function spans(samples: MetricsSample[]): { per: number; spans: Span[] } {
  const intervals = samples.length - 1
  if (intervals < 1) return { per: 1, spans: [] }
  const per = Math.ceil(intervals / MAX_BARS)
  const out: Span[] = []
  for (let end = samples.length - 1; end > 0; end -= per) {
    const start = Math.max(0, end - per)
    const a = samples[start]
    const b = samples[end]
    let requestP99 = 0
    let loopP99 = 0
    for (let i = start + 1; i <= end; i++) {
      requestP99 = Math.max(requestP99, samples[i].requestP99 ?? 0)
      loopP99 = Math.max(loopP99, samples[i].eventLoopDelayP99 ?? 0)
    }
    const d = (k: 'accountsCreated' | 'sessionsCreated' | 'commits' | 'requests') => Math.max(0, b[k] - a[k])
    out.unshift({ end: b, seconds: Math.max(0.001, (b.at - a.at) / 1000), accounts: d('accountsCreated'), sessions: d('sessionsCreated'), commits: d('commits'), requests: d('requests'), requestP99, loopP99 })
  }
  return { per, spans: out }
}

/** Three significant figures, no trailing zeros. */
export function figure3(n: number): string {
  return String(Number(n.toPrecision(3)))
}

const ms = (seconds: number | null) => (seconds === null ? 'not measured yet' : `${figure3(seconds * 1000)} ms`)
const clock = (at: number) => new Date(at).toISOString().slice(11, 16) + ' UTC'

function every(msTotal: number): string {
  if (msTotal < 1000) return `${msTotal} ms`
  if (msTotal < 60_000) return `${figure3(msTotal / 1000)} s`
  if (msTotal < 3_600_000) return `${figure3(msTotal / 60_000)} min`
  return `${figure3(msTotal / 3_600_000)} h`
}

export function activityPanel(v: ActivityView): Html {
  const { per, spans: groups } = spans(v.samples)
  const bar = (value: (s: Span) => number) => groups.map((s): Bar => ({ label: clock(s.end.at), value: value(s) }))
  const first = v.samples[0]
  const source = first ? `Sampled from the metrics every ${every(v.intervalMs)} since ${clock(first.at)} (${v.samples.length} samples).` : ''
  const width = every(per * v.intervalMs)
  const sampled =
    groups.length === 0
      ? html`<p class="muted">The charts of the metrics fill in as the server runs: they are sampled every ${every(v.intervalMs)}${first ? `, first at ${clock(first.at)}` : ''}.</p>`
      : html`<p class="muted">${source}</p>
<div class="charts">
${levelChart('Commits per second', bar((s) => s.commits / s.seconds), (n) => `${figure3(n)} commits/s`)}
${barChart(`Signups per ${width}`, bar((s) => s.accounts), 'signups')}
${barChart(`Sign-ins per ${width}`, bar((s) => s.sessions), 'sign-ins')}
${levelChart('Requests per second', bar((s) => s.requests / s.seconds), (n) => `${figure3(n)} requests/s`)}
${levelChart('Request duration, 99th percentile', bar((s) => s.requestP99), (n) => ms(n))}
${levelChart('Firehose subscribers', bar((s) => s.end.firehoseSubscribers), (n) => `${n} subscribers`)}
${levelChart('Event-loop delay, 99th percentile', bar((s) => s.loopP99), (n) => ms(n))}
</div>`
  return html`<section aria-labelledby="activity"><h2 id="activity">Recent activity</h2>
<p class="muted">Since this server process started, as <code>/metrics</code> exports them now:</p>
<dl class="facts" aria-label="Metrics now"><dt>Accounts created</dt><dd id="m-accounts">${v.now.accountsCreated}</dd>
<dt>Sign-ins</dt><dd id="m-sessions">${v.now.sessionsCreated}</dd>
<dt>Commits</dt><dd id="m-commits">${v.now.commits}</dd>
<dt>Requests served</dt><dd id="m-requests">${v.now.requests}</dd>
<dt>Firehose subscribers</dt><dd id="m-subscribers">${v.now.firehoseSubscribers}</dd>
<dt>Event-loop delay p99</dt><dd id="m-loop">${ms(v.now.eventLoopDelayP99)}</dd></dl>
${sampled}
<div class="charts">
${barChart('Commits per hour, last 24 hours', v.commitsPerHour.map((h) => ({ label: `${h.hour.slice(5, 10)} ${h.hour.slice(11)}:00`, value: h.count })), 'commits', 'From the event log, so it reaches back before this start.')}
${barChart('Signups per day, last 14 days', v.signupsPerDay.map((d) => ({ label: d.day.slice(5), value: d.count })), 'signups', 'From the account database, so it reaches back before this start.')}
</div></section>`
}
