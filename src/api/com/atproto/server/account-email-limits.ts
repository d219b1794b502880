// The official rate limits of the methods that send account email on a logged-in user's behalf:
// 5 an hour and 15 a day per account, each method with its own counters.
import type { RateLimit, XrpcContext } from '../../../../xrpc/types.ts'

const HOUR = 60 * 60_000
const DAY = 24 * HOUR

function accountKey(ctx: XrpcContext): string | null {
  const auth = ctx.auth
  return auth.kind === 'access' ? auth.did : null
}

/** `name` prefixes the counters' names, so that no two methods share a counter. */
export function perAccountEmailLimits(name: string): RateLimit[] {
  return [
    { name: `${name}-day`, durationMs: DAY, points: 15, key: accountKey },
    { name: `${name}-hour`, durationMs: HOUR, points: 5, key: accountKey },
  ]
}
