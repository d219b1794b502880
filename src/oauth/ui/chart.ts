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

export function barChart(title: string, bars: Bar[], unit: string): Html {
  const max = Math.max(1, ...bars.map((b) => b.value))
  const total = bars.reduce((n, b) => n + b.value, 0)
  const step = (W - 2) / Math.max(1, bars.length)
  const bw = Math.max(1, step - 2)
  const busiest = Math.max(0, ...bars.map((b) => b.value))
  const summary = `${title}: ${total} ${unit} in all, ${busiest} at most in one bar`
  const rects = bars.map((b, i) => {
    const h = b.value === 0 ? 0 : Math.max(2, Math.round((b.value / max) * (H - PAD - 2)))
    return html`<rect class="bar" x="${(1 + i * step).toFixed(1)}" y="${H - h}" width="${bw.toFixed(1)}" height="${h}" fill="#0a58ca"><title>${b.label}: ${b.value} ${unit}</title></rect>`
  })
  return html`<figure class="chart"><figcaption>${title}</figcaption>
<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${summary}" preserveAspectRatio="none">
<line class="axis" x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}" stroke="#8a8a93"/>
${rects}
</svg>
<p class="muted">${bars[0]?.label ?? ''} – ${bars.at(-1)?.label ?? ''} · ${total} ${unit} in all, at most ${busiest} in one bar</p></figure>`
}
