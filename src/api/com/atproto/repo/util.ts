// What the repo write methods share at the HTTP edge: the write-rate limits, the swap CIDs read
// from the input and the body limit. Whose repo a call may write and the commit itself are
// src/actions/commit.ts.
import { parseCid, type Cid } from '../../../../repo/cid.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { RateLimit, XrpcContext } from '../../../../xrpc/types.ts'

const HOUR = 60 * 60_000
const DAY = 24 * HOUR

/**
 * The official shared `repo-write-hour` (5000) and `repo-write-day` (35000) limits, keyed by the
 * caller's DID; a create costs 3 points, an update 2, a delete 1.
 */
export function repoWriteLimits(cost: (ctx: XrpcContext) => number): RateLimit[] {
  const key = (ctx: XrpcContext) => ('did' in ctx.auth ? ctx.auth.did : null)
  return [
    { name: 'repo-write-hour', durationMs: HOUR, points: 5000, key, cost },
    { name: 'repo-write-day', durationMs: DAY, points: 35000, key, cost },
  ]
}

/** A CID string from the input (swapCommit / swapRecord); the lexicon already checked its format. */
export function optionalCid(value: unknown, name: string): Cid | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw invalidRequest(`${name} must be a CID string`)
  try {
    return parseCid(value)
  } catch {
    throw invalidRequest(`${name} is not a valid CID`)
  }
}

/** JSON body limit of the record-writing methods. */
export const WRITE_JSON_LIMIT = 1_000_000
