// A small benchmark harness: times a function repeatedly, reports ops/s, and prints the rows
// as a table plus one JSON line mapping each benchmark to Hearth's and the reference's figures.

export interface Row {
  name: string
  hearth: number
  reference: number | null
  unit: string
  /** True when a larger figure is better (ops/s, MB/s); false for times. */
  higherIsBetter: boolean
  note?: string
}

export function now(): number {
  return performance.now()
}

/** Runs `fn` until at least `minMs` have passed (and at least once); returns ops/s. */
export async function opsPerSec(fn: () => unknown | Promise<unknown>, opsPerCall = 1, minMs = 1000): Promise<number> {
  let calls = 0
  const start = now()
  let elapsed = 0
  do {
    const r = fn()
    if (r instanceof Promise) await r
    calls++
    elapsed = now() - start
  } while (elapsed < minMs)
  return (calls * opsPerCall * 1000) / elapsed
}

export function ratio(row: Row): number | null {
  if (row.reference === null || row.reference === 0 || row.hearth === 0) return null
  return row.higherIsBetter ? row.hearth / row.reference : row.reference / row.hearth
}

function fmt(n: number | null): string {
  if (n === null) return '—'
  if (n >= 100) return Math.round(n).toLocaleString('en-US')
  return n.toFixed(2)
}

export function report(rows: Row[]): void {
  const lines = [['benchmark', 'hearth', 'reference', 'unit', 'ratio'].join(' | ')]
  for (const r of rows) {
    const q = ratio(r)
    lines.push([r.name, fmt(r.hearth), fmt(r.reference), r.unit, q === null ? '—' : `${q.toFixed(2)}x`].join(' | '))
  }
  console.log(lines.join('\n'))
  const json: Record<string, { hearth: number; reference: number | null; unit: string; ratio: number | null }> = {}
  for (const r of rows) {
    const q = ratio(r)
    json[r.name] = {
      hearth: Number(r.hearth.toPrecision(4)),
      reference: r.reference === null ? null : Number(r.reference.toPrecision(4)),
      unit: r.unit,
      ratio: q === null ? null : Number(q.toFixed(2)),
    }
  }
  console.log(JSON.stringify(json))
}
