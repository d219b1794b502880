// Small bar charts drawn on the server as inline SVG (no script, no image request, allowed by
// the pages' CSP): one bar per bucket, a text summary for screen
// readers, and each bar's value in its <title> for a pointer. The SVG stretches to the column's
// width, so it holds no text (which would stretch too).
import { html, type Html } from './html.ts'

export interface Bar {
  label: string
  value: number
}

const W = 480
const H = 96
const PAD = 14

function bars(values: Bar[], title: (b: Bar) => string): Html[] {
  const max = Math.max(...values.map((b) => b.value), Number.MIN_VALUE)
  const step = (W - 2) / Math.max(1, values.length)
  const bw = Math.max(1, step - 2)
  return values.map((b, i) => {
    const h = b.value <= 0 ? 0 : Math.max(2, Math.round((b.value / max) * (H - PAD - 2)))
    return html`<rect class="bar" x="${(1 + i * step).toFixed(1)}" y="${H - h}" width="${bw.toFixed(1)}" height="${h}" fill="#0a58ca"><title>${title(b)}</title></rect>`
  })
}

function figure(title: string, summary: string, rects: Html[], below: Html | string, source?: string): Html {
  return html`<figure class="chart"><figcaption>${title}</figcaption>
<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${summary}" preserveAspectRatio="none">
<line class="axis" x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}" stroke="#8a8a93"/>
${rects}
</svg>
<p class="muted">${below}${source ? html`<br>${source}` : ''}</p></figure>`
}

/** Counts per bucket, summed in the summary; `source` says where the figures come from. */
export function barChart(title: string, values: Bar[], unit: string, source?: string): Html {
  const total = values.reduce((n, b) => n + b.value, 0)
  const busiest = Math.max(0, ...values.map((b) => b.value))
  const summary = `${title}: ${total} ${unit} in all, ${busiest} at most in one bar`
  const range = `${values[0]?.label ?? ''} – ${values.at(-1)?.label ?? ''}`
  return figure(title, summary, bars(values, (b) => `${b.label}: ${b.value} ${unit}`), `${range} · ${total} ${unit} in all, at most ${busiest} in one bar`, source)
}

/** A level or rate per bucket (not summable): the summary gives the latest and the peak. */
export function levelChart(title: string, values: Bar[], format: (n: number) => string, source?: string): Html {
  const latest = values.at(-1)?.value ?? 0
  const peak = Math.max(0, ...values.map((b) => b.value))
  const summary = `${title}: latest ${format(latest)}, peak ${format(peak)}`
  const range = `${values[0]?.label ?? ''} – ${values.at(-1)?.label ?? ''}`
  return figure(title, summary, bars(values, (b) => `${b.label}: ${format(b.value)}`), `${range} · latest ${format(latest)}, peak ${format(peak)}`, source)
}
