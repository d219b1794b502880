// A bounded in-memory "seen before" set with expiry: DPoP proof jtis, client assertion jtis and
// PKCE challenges. One process, so memory suffices (the official uses memory without Redis).
export class ReplayCache {
  readonly #seen = new Map<string, number>()
  readonly #max: number

  constructor(max = 100_000) {
    this.#max = max
  }

  /** True the first time `key` is seen within `ttlMs`; false for a replay. */
  unique(key: string, ttlMs: number, now = Date.now()): boolean {
    const until = this.#seen.get(key)
    if (until !== undefined && until > now) return false
    if (this.#seen.size >= this.#max) this.#prune(now)
    this.#seen.set(key, now + ttlMs)
    return true
  }

  #prune(now: number): void {
    for (const [k, until] of this.#seen) if (until <= now) this.#seen.delete(k)
    // Still full of live entries: drop the oldest inserted (Map keeps insertion order).
    while (this.#seen.size >= this.#max) {
      const first = this.#seen.keys().next().value
      if (first === undefined) break
      this.#seen.delete(first)
    }
  }
}
