// A firehose consumer that decodes frames itself (header, then body, with Hearth's CBOR decoder)
// and keeps every frame's bytes, for comparing what different subscribers saw.
import { WebSocket } from 'ws'
import { decodeCbor, decodeCborFirst } from '../../src/repo/cbor.ts'

export interface Frame {
  header: { op: number; t?: string }
  body: any
  raw: Uint8Array
}

export class Consumer {
  readonly frames: Frame[] = []
  readonly ws: WebSocket
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>
  private waiters: Array<() => void> = []

  constructor(baseUrl: string, query = '', opts: { keep?: boolean } = {}) {
    const url = `${baseUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos${query}`
    this.ws = new WebSocket(url)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.notify()
      })
    })
    this.ws.on('error', () => {})
    this.ws.on('message', (data: Buffer) => {
      const raw = new Uint8Array(data)
      const [header, rest] = decodeCborFirst(raw)
      const frame: Frame = { header, body: decodeCbor(rest), raw: opts.keep === false ? new Uint8Array(0) : raw }
      this.frames.push(frame)
      this.notify()
    })
  }

  private notify(): void {
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }

  /** Event frames with a seq. */
  events(): Frame[] {
    return this.frames.filter((f) => f.header.op === 1 && typeof f.body?.seq === 'number')
  }

  lastSeq(): number {
    return this.events().at(-1)?.body.seq ?? -1
  }

  /** Resolves once `pred` holds (checked on every frame and on close); rejects after timeoutMs. */
  async until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pred()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${this.frames.length} frames)`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200))
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  close(): void {
    this.ws.terminate()
  }
}

export async function waitFor(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
