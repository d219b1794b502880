// Progress of a long copy (backup, restore) on stderr: items, bytes, share and time left, at
// most every few seconds, and a last line with the totals, so an operator watching a large data
// directory copy knows it is moving and when it will end. Stdout keeps only the summary.
import type { CopyProgress } from '../admin/backup.ts'
import type { Io } from './context.ts'

const MB = 1024 * 1024

export interface ProgressReporter {
  update(p: CopyProgress): void
  /** The closing line (totals and time taken). */
  done(): void
}

export function progressReporter(io: Io, label: string, opts: { intervalMs?: number; now?: () => number } = {}): ProgressReporter {
  const now = opts.now ?? Date.now
  const interval = opts.intervalMs ?? 2000
  const started = now()
  let lastPrinted = started
  let last: CopyProgress = { items: 0, bytes: 0, totalBytes: 0 }
  return {
    update(p) {
      last = p
      const t = now()
      if (t - lastPrinted < interval) return
      lastPrinted = t
      const elapsed = t - started
      const share = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 0
      const left = share > 0 ? (elapsed / share) * (1 - share) : null
      io.err(
        `${label}: ${p.items} items, ${mb(p.bytes)} of ${mb(p.totalBytes)} MB (${Math.floor(share * 100)}%)` +
          (left === null ? '' : `, about ${duration(left)} left`) +
          '\n',
      )
    },
    done() {
      io.err(`${label}: ${last.items} items, ${mb(last.bytes)} MB in ${duration(now() - started)}\n`)
    },
  }
}

function mb(bytes: number): string {
  return (bytes / MB).toFixed(1)
}

/** m:ss (or h:mm:ss). */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`
}
