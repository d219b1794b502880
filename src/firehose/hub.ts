// com.atproto.sync.subscribeRepos: serves the sequencer's events to WebSocket subscribers.
//
// Each event is encoded once, as a whole WebSocket message (server frames are unmasked, so the
// bytes are the same for every subscriber), and that one Buffer is queued to every live
// subscriber: a reference, not a copy. Queues are written out in flush passes, each subscriber's
// queued frames in one vectored socket write, so the syscall and the trip through the TCP stack
// are paid once per subscriber per pass rather than once per frame. A pass waits a little after
// the first frame it will carry: a multiple of the last pass's duration, so that fan-out takes
// a bounded share of the event loop the write path also runs on, and at least a few hundredths
// of a millisecond per subscriber, so that with thousands of subscribers several commits go out
// in each write; with few, frames leave at once. A pass yields to the event loop every
// FLUSH_CHUNK subscribers, so a write is never held behind a whole pass.
//
// A subscriber first replays from its cursor, page by page (each page one write, waiting for the
// socket to drain), then joins the live tail in the same tick in which its replay found nothing
// more: the sequencer appends and notifies synchronously, so no event can fall between the two
// and none is sent twice. A subscriber whose socket still holds unsent bytes when its queue grows
// past `maxBuffer` frames is told ConsumerTooSlow and dropped (with room in its socket, a full
// queue is written out at once instead); writers and other subscribers never wait for it.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRequire } from 'node:module'
import type { WebSocket, WebSocketServer } from 'ws'
import type { SeqRow, Sequencer } from '../sequencer/sequencer.ts'
import { errorFrame, eventFrame, infoFrame, wsMessage } from './frames.ts'

// ws is loaded at the first subscription, not at start: an idle server never needs it, and
// importing it from an ES module also runs node's CommonJS export scanner over its sources
// (hot enough that start-up optimizes it on a compiler thread, whose memory stays in malloc).
const requireModule = createRequire(import.meta.url)

export interface FirehoseOptions {
  /** Frames a subscriber may have queued before it is cut off (PDS_MAX_SUBSCRIPTION_BUFFER). */
  maxBuffer: number
  /** How far back a cursor may reach (PDS_REPO_BACKFILL_LIMIT_MS). */
  backfillLimitMs: number
  /** Replay page size. */
  pageSize?: number
}

/** Bytes a socket may hold unsent before the hub stops writing to it and queues instead. */
const SOCKET_HIGH_WATER = 256 * 1024
/** Subscribers written per turn of the event loop in a flush pass. */
const FLUSH_CHUNK = 256
/** A pass waits this many times the last pass's duration after it: fan-out's share of the loop. */
const FLUSH_SPACING = 3
/**
 * ...and at least this much per subscriber, so that socket writes stay under ~20,000 a second
 * however many subscribe (each write a syscall and a trip through the TCP stack, ~5-8 µs here;
 * with thousands of subscribers each write carries several frames)...
 */
const FLUSH_WAIT_PER_SUBSCRIBER_MS = 0.05
/** ...but never longer than this, so that lag stays bounded whatever a pass costs. */
const FLUSH_MAX_WAIT_MS = 200

class Subscriber {
  live = false
  lastSeq = -1
  closed = false
  /** Whole WebSocket messages not yet written to the socket, oldest first. */
  queue: Buffer[] = []
  private awaitingDrain = false

  constructor(
    readonly ws: WebSocket,
    readonly socket: Duplex,
    private readonly maxBuffer: number,
  ) {}

  /** Queues a live frame; false when the subscriber is (now) gone. */
  enqueue(seq: number, message: Buffer, onDrain: () => void): boolean {
    if (this.closed) return false
    if (seq <= this.lastSeq) return true
    if (this.queue.length >= this.maxBuffer) {
      // A full queue is the consumer's doing only if its socket is full too; otherwise the
      // frames were waiting on a flush pass, and go out now.
      if (this.socket.writableLength > SOCKET_HIGH_WATER) {
        this.fail('ConsumerTooSlow', 'Stream consumer too slow')
        return false
      }
      this.flush(onDrain)
    }
    this.lastSeq = seq
    this.queue.push(message)
    return true
  }

  /** Writes the queue out in one write, unless the socket is still full (false: gone). */
  flush(onDrain: () => void): boolean {
    if (this.closed) return false
    if (this.queue.length === 0) return true
    if (this.socket.writableLength > SOCKET_HIGH_WATER) {
      // Its last write returned false, so 'drain' will come: the queue goes out then, and
      // passes in between skip it instead of polling it.
      if (!this.awaitingDrain) {
        this.awaitingDrain = true
        this.socket.once('drain', () => {
          this.awaitingDrain = false
          onDrain()
        })
      }
      return true
    }
    const q = this.queue
    this.queue = []
    if (q.length === 1) this.socket.write(q[0] as Buffer)
    else {
      // Corked, the frames go out in one writev of the shared Buffers: one syscall, no copy.
      this.socket.cork()
      for (const m of q) this.socket.write(m)
      this.socket.uncork()
    }
    return true
  }

  fail(error: string, message: string): void {
    if (this.closed) return
    this.closed = true
    // What it already has stays its; what was only queued is dropped, and the error follows.
    this.queue = []
    try {
      this.ws.send(errorFrame(error, message))
    } catch {}
    this.ws.close(1008, error)
    // A consumer that reads nothing never completes the close handshake.
    setTimeout(() => this.ws.terminate(), 2000).unref()
  }
}

export class FirehoseHub {
  private wss: WebSocketServer | null = null
  private readonly subscribers = new Set<Subscriber>()
  private readonly pageSize: number
  private readonly onEvents = (rows: SeqRow[]) => this.broadcast(rows)
  private readonly onDrain = () => this.scheduleFlush()
  /** A flush pass is scheduled or under way. */
  private flushing = false
  private flushAgain = false
  private lastPassMs = 0
  private closed = false

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
    this.wss ??= new (requireModule('ws') as typeof import('ws')).WebSocketServer({ noServer: true, maxPayload: 1024 })
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void this.serve(ws, socket, req)
    })
  }

  private broadcast(rows: SeqRow[]): void {
    if (this.subscribers.size === 0) return
    for (const row of rows) {
      const message = wsMessage(eventFrame(row))
      for (const sub of this.subscribers) {
        if (!sub.live) continue
        if (!sub.enqueue(row.seq, message, this.onDrain)) this.subscribers.delete(sub)
      }
    }
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushing) {
      this.flushAgain = true
      return
    }
    this.flushing = true
    const wait = Math.min(FLUSH_MAX_WAIT_MS, Math.max(this.lastPassMs * FLUSH_SPACING, this.subscribers.size * FLUSH_WAIT_PER_SUBSCRIBER_MS))
    if (wait < 1) setImmediate(() => this.flushPass())
    else setTimeout(() => this.flushPass(), wait)
  }

  /** Writes every subscriber's queue, FLUSH_CHUNK subscribers per turn of the event loop. */
  private flushPass(): void {
    let spent = 0
    const subs = [...this.subscribers]
    this.flushAgain = false
    let i = 0
    const step = () => {
      const t0 = performance.now()
      const end = Math.min(subs.length, i + FLUSH_CHUNK)
      for (; i < end; i++) {
        const sub = subs[i] as Subscriber
        if (!sub.flush(this.onDrain)) this.subscribers.delete(sub)
      }
      spent += performance.now() - t0
      if (i < subs.length && !this.closed) return void setImmediate(step)
      // The pass's own time, not the turns between its chunks, spaces the next one.
      this.lastPassMs = spent
      this.flushing = false
      // Frames that came during the pass go out in the next one.
      if (this.flushAgain && !this.closed) this.scheduleFlush()
    }
    step()
  }

  private async serve(ws: WebSocket, socket: Duplex, req: IncomingMessage): Promise<void> {
    const sub = new Subscriber(ws, socket, this.opts.maxBuffer)
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
      if (page.length > 0) {
        const messages = page.map((row) => wsMessage(eventFrame(row)))
        sub.lastSeq = (page.at(-1) as SeqRow).seq
        socket.write(messages.length === 1 ? (messages[0] as Buffer) : Buffer.concat(messages))
      }
      if (page.length < this.pageSize) {
        // Caught up, in this very tick: join the live tail before any other append can run.
        sub.live = true
        this.subscribers.add(sub)
        return
      }
      if (!(await drained(sub, 30_000))) return sub.fail('ConsumerTooSlow', 'Stream consumer too slow')
    }
  }

  /** Closes every subscription (on shutdown). */
  close(): void {
    this.closed = true
    this.sequencer.off('events', this.onEvents)
    for (const sub of this.subscribers) {
      sub.closed = true
      sub.ws.close(1001, 'server shutting down')
    }
    this.subscribers.clear()
    this.wss?.close()
  }
}

/** Resolves once the subscriber's socket is below its high-water mark (false: gave up or gone). */
function drained(sub: Subscriber, timeoutMs: number): Promise<boolean> {
  const { socket } = sub
  if (sub.closed) return Promise.resolve(false)
  if (socket.writableLength <= SOCKET_HIGH_WATER) return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.off('drain', onDrain)
      socket.off('close', onClose)
      resolve(ok)
    }
    const onDrain = () => done(true)
    const onClose = () => done(false)
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.on('drain', onDrain)
    socket.on('close', onClose)
  })
}

export type { WebSocket }

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
