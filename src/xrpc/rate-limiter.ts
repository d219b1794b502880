// In-memory rate limits with the official PDS's semantics (rate-limiter-flexible's memory
// limiter, as @atproto/xrpc-server uses it): a fixed window per key that opens at the key's first
// call and lasts `durationMs`; a call costs points; once the points are spent the call is refused
// with 429 RateLimitExceeded until the window closes. Responses carry the tightest limit that
// applied in RateLimit-Limit / -Remaining / -Reset (epoch seconds) / -Policy (`<points>;w=<seconds>`).
import type { ServerResponse } from 'node:http'
import { XrpcError } from '../errors.ts'
import { exposeHeaders } from './cors.ts'

export interface RateLimitStatus {
  /** Points per window. */
  limit: number
  /** The window in whole seconds (as the official Policy header spells it). */
  windowSeconds: number
  remaining: number
  msBeforeNext: number
  exceeded: boolean
}

export class RateLimitExceededError extends XrpcError {
  constructor(readonly limitStatus: RateLimitStatus) {
    super(429, 'RateLimitExceeded', 'Rate Limit Exceeded')
  }
}

interface Bucket {
  consumed: number
  resetAt: number
}

export class MemoryRateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private nextSweep = 0

  constructor(
    readonly name: string,
    readonly durationMs: number,
    readonly points: number,
  ) {
    if (!(durationMs > 0) || !(points > 0)) throw new TypeError(`rate limit ${name}: durationMs and points must be positive`)
  }

  /** Spends `cost` points of `key`'s window. Refused calls still count, as in the official limiter. */
  consume(key: string, cost: number, now = Date.now()): RateLimitStatus {
    this.sweep(now)
    let bucket = this.buckets.get(key)
    if (bucket === undefined || bucket.resetAt <= now) {
      bucket = { consumed: 0, resetAt: now + this.durationMs }
      this.buckets.set(key, bucket)
    }
    bucket.consumed += cost
    return {
      limit: this.points,
      windowSeconds: Math.floor(this.durationMs / 1000),
      remaining: Math.max(0, this.points - bucket.consumed),
      msBeforeNext: bucket.resetAt - now,
      exceeded: bucket.consumed > this.points,
    }
  }

  reset(key: string): void {
    this.buckets.delete(key)
  }

  /** Number of live keys (for tests and metrics). */
  get size(): number {
    return this.buckets.size
  }

  // Expired windows are dropped at most once per window length, so memory follows the number
  // of clients seen in one window.
  private sweep(now: number): void {
    if (now < this.nextSweep) return
    this.nextSweep = now + Math.min(this.durationMs, 60_000)
    for (const [key, bucket] of this.buckets) if (bucket.resetAt <= now) this.buckets.delete(key)
  }
}

/** Of several statuses, the one to report: a refusal first, else the fewest points left. */
export function tightest(statuses: RateLimitStatus[]): RateLimitStatus | null {
  let lowest: RateLimitStatus | null = null
  for (const s of statuses) {
    if (s.exceeded) return s
    if (lowest === null || s.remaining < lowest.remaining) lowest = s
  }
  return lowest
}

/**
 * The RateLimit-* headers, readable by browser apps (Access-Control-Expose-Headers), and on a
 * refusal Retry-After too: as the official 0.5 line's xrpc-server (0.13) sends them.
 */
export function setRateLimitHeaders(res: ServerResponse, status: RateLimitStatus, now = Date.now()): void {
  if (res.headersSent) return
  res.setHeader('RateLimit-Limit', status.limit)
  res.setHeader('RateLimit-Reset', Math.floor((now + status.msBeforeNext) / 1000))
  res.setHeader('RateLimit-Remaining', status.remaining)
  res.setHeader('RateLimit-Policy', `${status.limit};w=${status.windowSeconds}`)
  exposeHeaders(res, ['RateLimit-Limit', 'RateLimit-Reset', 'RateLimit-Remaining', 'RateLimit-Policy'])
  if (status.exceeded) {
    res.setHeader('Retry-After', Math.ceil(status.msBeforeNext / 1000))
    exposeHeaders(res, ['Retry-After'])
  }
}
