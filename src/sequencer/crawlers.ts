// Tells relays there is something to crawl, as the official PDS does: a
// com.atproto.sync.requestCrawl to every PDS_CRAWLERS host at start, then again after new
// events, at most once per interval (20 minutes). Fire and forget, time-bounded; a relay that
// is down costs a log line, never a write.
import type { Logger } from '../logger.ts'
import type { Sequencer } from './sequencer.ts'

export const NOTIFY_INTERVAL_MS = 20 * 60_000
const TIMEOUT_MS = 10_000

export class Crawlers {
  private lastNotified = 0
  private readonly onEvents = () => this.notifyOfUpdate()

  constructor(
    private readonly hostname: string,
    private readonly crawlers: string[],
    private readonly sequencer: Sequencer,
    private readonly logger: Logger,
    private readonly intervalMs = NOTIFY_INTERVAL_MS,
  ) {
    if (crawlers.length > 0) sequencer.on('events', this.onEvents)
  }

  /** Notifies now if the interval has passed since the last notification. */
  notifyOfUpdate(): Promise<void> {
    const now = Date.now()
    if (this.crawlers.length === 0 || now - this.lastNotified < this.intervalMs) return Promise.resolve()
    this.lastNotified = now
    return this.notifyAll()
  }

  private async notifyAll(): Promise<void> {
    await Promise.all(
      this.crawlers.map(async (base) => {
        const url = new URL('/xrpc/com.atproto.sync.requestCrawl', base)
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ hostname: this.hostname }),
            // Outgoing requests never follow a redirect they have not checked; a relay has no
            // reason to send one.
            redirect: 'error',
            signal: AbortSignal.timeout(TIMEOUT_MS),
          })
          if (!res.ok) this.logger.warn({ crawler: base, status: res.status }, 'requestCrawl refused')
          await res.body?.cancel()
        } catch (err) {
          this.logger.warn({ crawler: base, err: String(err) }, 'requestCrawl failed')
        }
      }),
    )
  }

  close(): void {
    this.sequencer.off('events', this.onEvents)
  }
}
