// Where password hashes run, and how many at once.
//
// scrypt with the official parameters (N = 16384, r = 8: 16 MB and tens of milliseconds of CPU
// per hash) used to run on libuv's thread pool, the few threads Node shares between file-system
// work, DNS lookups and zlib. A crowd of wrong-password logins filled every one of them, and an
// unrelated user's upload or blob read waited behind each queued hash. So:
// - hashes run in their own worker threads, never on libuv's pool;
// - at most a couple at once, always leaving a core to the event loop; the rest wait in turn;
// - past a long queue a new hash is refused with 429 rather than left waiting for seconds.
// Threads of their own also bound memory: the allocator keeps a 16 MB scrypt buffer around in
// each thread that ever hashed, so hashing on a pool of N threads holds up to N such buffers.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { XrpcError } from '../errors.ts'

// Plain CommonJS run with `eval`, so the same code works from the sources and from the bundle.
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads')
const { scryptSync } = require('node:crypto')
parentPort.on('message', ({ password, salt, keyLength }) => {
  try {
    const key = scryptSync(password, salt, keyLength)
    parentPort.postMessage({ key })
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) })
  }
})
`

interface Job {
  resolve(key: Buffer): void
  reject(err: Error): void
}

// An idle hashing thread ends after this long: a thread that has hashed holds its own V8 heap
// and the allocator's retained 16 MB scrypt buffer (together ~25 MB resident), while logins come
// rarely; a burst of them reuses the thread, and a new one starts in a few tens of ms.
const IDLE_MS = 5_000

/** One hashing thread: one job at a time, referenced only while it has one; ends when idle. */
class HashThread {
  readonly #worker: Worker
  #job: Job | null = null
  #idleTimer: NodeJS.Timeout | null = null
  dead = false

  constructor(private readonly idleMs: number) {
    this.#worker = new Worker(WORKER_CODE, { eval: true })
    this.#worker.unref()
    this.#worker.on('message', (msg: { key?: Uint8Array; error?: string }) => {
      const job = this.#finish()
      if (msg.key) job?.resolve(Buffer.from(msg.key.buffer, msg.key.byteOffset, msg.key.byteLength))
      else job?.reject(new Error(`scrypt failed: ${msg.error}`))
    })
    const die = (err: Error) => {
      if (this.dead) return
      this.dead = true
      this.#finish()?.reject(err)
    }
    this.#worker.on('error', die)
    this.#worker.on('exit', (code) => die(new Error(`hashing thread exited (${code})`)))
  }

  hash(password: string, salt: string, keyLength: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new Error('hashing thread is gone'))
      if (this.#idleTimer) clearTimeout(this.#idleTimer)
      this.#idleTimer = null
      this.#job = { resolve, reject }
      // Keeps the process alive while someone waits for the answer.
      this.#worker.ref()
      this.#worker.postMessage({ password, salt, keyLength })
    })
  }

  #finish(): Job | null {
    const job = this.#job
    this.#job = null
    this.#worker.unref()
    if (!this.dead) {
      this.#idleTimer = setTimeout(() => {
        // Dead first: the limiter then passes over it, and its exit rejects no one.
        this.dead = true
        void this.#worker.terminate()
      }, this.idleMs)
      this.#idleTimer.unref()
    }
    return job
  }
}

export class HashLimiter {
  #active = 0
  readonly #waiting: Array<() => void> = []
  readonly #idle: HashThread[] = []
  /** Hashes run so far (for tests and metrics). */
  hashed = 0

  constructor(
    readonly maxActive: number,
    readonly maxWaiting: number,
    readonly idleMs = IDLE_MS,
  ) {}

  get active(): number {
    return this.#active
  }

  /** Hashing threads alive now (idle ones end after idleMs). */
  get threads(): number {
    return this.#idle.filter((t) => !t.dead).length + this.#active
  }

  get waiting(): number {
    return this.#waiting.length
  }

  /** scrypt(password, salt, keyLength) with Node's default cost; 429 RateLimitExceeded when the queue is full. */
  async scrypt(password: string, salt: string, keyLength: number): Promise<Buffer> {
    if (this.#active < this.maxActive) {
      this.#active++
    } else {
      if (this.#waiting.length >= this.maxWaiting) {
        throw new XrpcError(429, 'RateLimitExceeded', 'Too many password checks in progress, try again shortly')
      }
      // The slot is handed over by the hash that finishes (active stays counted).
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    }
    // Never more threads than slots: a slot holder finds an idle thread or starts one.
    let thread = this.#idle.pop()
    while (thread?.dead) thread = this.#idle.pop()
    thread ??= new HashThread(this.idleMs)
    try {
      this.hashed++
      return await thread.hash(password, salt, keyLength)
    } finally {
      if (!thread.dead) this.#idle.push(thread)
      const next = this.#waiting.shift()
      if (next) next()
      else this.#active--
    }
  }
}

// Two at a time where there are cores to spare, else one: a core stays with the event loop.
const MAX_ACTIVE = Math.max(1, Math.min(2, availableParallelism() - 1))
// A queue of at most a few seconds of hashing.
const MAX_WAITING = 64

/** The limiter every password hash of the process goes through. */
export const passwordHashes = new HashLimiter(MAX_ACTIVE, MAX_WAITING)
