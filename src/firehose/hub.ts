// com.atproto.sync.subscribeRepos: serves the sequencer's events to WebSocket subscribers.
//
// Each event's frame is encoded once and the same bytes go to every subscriber. A subscriber
// first replays from its cursor, page by page with backpressure, then joins the live tail in
// the same tick in which its replay found nothing more: the sequencer appends and notifies
// synchronously, so no event can fall between the two and none is sent twice. A subscriber
// that lets more than `maxBuffer` frames pile up unsent is told ConsumerTooSlow and dropped;
// writers and other subscribers never wait for it.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import type { SeqRow, Sequencer } from '../sequencer/sequencer.ts'
import { errorFrame, eventFrame, infoFrame } from './frames.ts'

export interface FirehoseOptions {
  /** Frames a subscriber may have queued before it is cut off (PDS_MAX_SUBSCRIPTION_BUFFER). */
  maxBuffer: number
  /** How far back a cursor may reach (PDS_REPO_BACKFILL_LIMIT_MS). */
  backfillLimitMs: number
  /** Replay page size. */
  pageSize?: number
}

class Subscriber {
  live = false
  lastSeq = -1
  queued = 0
  closed = false
  private drained: Array<() => void> = []

  constructor(
    readonly ws: WebSocket,
    private readonly maxBuffer: number,
  ) {}

  /** Sends a frame; returns false when the subscriber is (now) gone. */
  send(seq: number, frame: Uint8Array): boolean {
    if (this.closed) return false
    if (seq <= this.lastSeq) return true
    if (this.queued >= this.maxBuffer) {
      this.fail('ConsumerTooSlow', 'Stream consumer too slow')
      return false
    }
    this.lastSeq = seq
    this.queued++
    this.ws.send(frame, () => {
      this.queued--
      if (this.queued === 0) this.wake()
    })
    return true
  }

  private wake(): void {
    const waiters = this.drained
    this.drained = []
    for (const w of waiters) w()
  }

  /** Resolves once everything sent so far is handed to the socket (false: gave up waiting). */
  flushed(timeoutMs: number): Promise<boolean> {
    if (this.queued === 0 || this.closed) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.drained.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  fail(error: string, message: string): void {
    if (this.closed) return
    this.closed = true
    this.wake()
    try {
      this.ws.send(errorFrame(error, message))
    } catch {}
    this.ws.close(1008, error)
    // A consumer that reads nothing never completes the close handshake.
    setTimeout(() => this.ws.terminate(), 2000).unref()
  }
}

export class FirehoseHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 })
  private readonly subscribers = new Set<Subscriber>()
  private readonly pageSize: number
  private readonly onEvents = (rows: SeqRow[]) => this.broadcast(rows)

  constructor(
    private readonly sequencer: Sequencer,
    private readonly opts: FirehoseOptions,
  ) {
    this.pageSize = opts.pageSize ?? 500
    sequencer.on('events', this.onEvents)
  }

  get subscriberCount(): number {
    return this.subscribers.size
  }

  /** Handles an HTTP upgrade for subscribeRepos (the caller matched the path). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void this.serve(ws, req)
    })
  }

  private broadcast(rows: SeqRow[]): void {
    if (this.subscribers.size === 0) return
    for (const row of rows) {
      const frame = eventFrame(row)
      for (const sub of this.subscribers) {
        if (!sub.live) continue
        if (!sub.send(row.seq, frame)) this.subscribers.delete(sub)
      }
    }
  }

  private async serve(ws: WebSocket, req: IncomingMessage): Promise<void> {
    const sub = new Subscriber(ws, this.opts.maxBuffer)
    ws.on('close', () => {
      sub.closed = true
      this.subscribers.delete(sub)
    })
    ws.on('error', () => {
      sub.closed = true
      this.subscribers.delete(sub)
    })
    // Consumers send nothing; anything they send is ignored.
    ws.on('message', () => {})

    const url = new URL(req.url ?? '/', 'http://localhost')
    const raw = url.searchParams.get('cursor')
    let cursor: number | null = null
    // An empty cursor is no cursor, as the official decodes params: @atproto/sync's Firehose
    // client sends `?cursor=` when it has none.
    if (raw !== null && raw !== '') {
      cursor = parseCursor(raw)
      if (cursor === null) return sub.fail('InvalidRequest', 'cursor must be a non-negative integer')
    }
    if (cursor === null) {
      sub.live = true
      sub.lastSeq = this.sequencer.lastSeq() ?? 0
      this.subscribers.add(sub)
      return
    }
    const current = this.sequencer.lastSeq() ?? 0
    if (cursor > current) return sub.fail('FutureCursor', 'Cursor in the future.')

    let after = cursor
    const next = this.sequencer.range(cursor, 1)[0]
    const windowStart = new Date(Date.now() - this.opts.backfillLimitMs).toISOString()
    if (next && next.sequencedAt < windowStart) {
      ws.send(infoFrame('OutdatedCursor', 'Requested cursor exceeded limit. Possibly missing events'))
      const first = this.sequencer.firstAfterTime(windowStart)
      after = first ? first.seq - 1 : current
    }
    sub.lastSeq = after
    for (;;) {
      if (sub.closed) return
      const page = this.sequencer.range(sub.lastSeq, this.pageSize)
      for (const row of page) if (!sub.send(row.seq, eventFrame(row))) return
      if (page.length < this.pageSize) {
        // Caught up, in this very tick: join the live tail before any other append can run.
        sub.live = true
        this.subscribers.add(sub)
        return
      }
      if (!(await sub.flushed(30_000))) return sub.fail('ConsumerTooSlow', 'Stream consumer too slow')
    }
  }

  /** Closes every subscription (on shutdown). */
  close(): void {
    this.sequencer.off('events', this.onEvents)
    for (const sub of this.subscribers) {
      sub.closed = true
      sub.ws.close(1001, 'server shutting down')
    }
    this.subscribers.clear()
    this.wss.close()
  }
}

export { WebSocket }

/**
 * A cursor as a sequence number: decimal digits only, and no larger than a sequence number can
 * be (Number.MAX_SAFE_INTEGER); null otherwise. Any such integer is valid, so one past the
 * current sequence is a FutureCursor, however long.
 */
function parseCursor(raw: string): number | null {
  if (!/^\d+$/.test(raw)) return null
  const digits = raw.replace(/^0+(?=\d)/, '')
  if (digits.length > 16) return null
  const n = Number(digits)
  return Number.isSafeInteger(n) ? n : null
}
