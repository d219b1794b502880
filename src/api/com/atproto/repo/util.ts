// What the repo write methods share: whose repo a call may write, the write-rate limits, and the
// one commit path (record writes + blob bookkeeping in one transaction, file work right after).
import type { AccessAuth } from '../../../../auth/types.ts'
import { applyBlobPlan } from '../../../../blob/apply.ts'
import { type BlobPlan, processWriteBlobs } from '../../../../blob/metadata.ts'
import type { ActorStore } from '../../../../actor/store.ts'
import { type PreparedRepoWrite, toCommitWrite } from '../../../../actor/prepare.ts'
import { commitWrites, type CommitResult } from '../../../../actor/transactor.ts'
import type { Cid } from '../../../../repo/cid.ts'
import { parseCid } from '../../../../repo/cid.ts'
import { WriteConflictError } from '../../../../repo/commit-builder.ts'
import type { Services } from '../../../../services.ts'
import { authRequired, forbidden, invalidRequest } from '../../../../xrpc/errors.ts'
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

/**
 * The repo a write call names (handle or DID), as the official `findAccount` with both checks:
 * unknown 403 AccountNotFound, taken down 401 AccountTakedown, deactivated 401
 * AccountDeactivated; and it must be the caller's own (401 AuthenticationRequired).
 */
export function writableRepo(s: Services, auth: AccessAuth, repo: string): { did: string; store: ActorStore } {
  const account = s.accounts.getAccount(repo, { includeTakenDown: true, includeDeactivated: true })
  if (!account) throw forbidden('Account not found', 'AccountNotFound')
  if (account.takedownRef) throw authRequired('Account has been taken down', 'AccountTakedown')
  if (account.deactivatedAt) throw authRequired('Account is deactivated', 'AccountDeactivated')
  if (account.did !== auth.did) throw authRequired()
  const store = s.actors.get(account.did)
  if (!store) throw invalidRequest(`No repo root found for ${account.did}`)
  return { did: account.did, store }
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

/**
 * Commits prepared writes: the repo change, the record index with backlinks, and the blob
 * bookkeeping (verify, link, unlink) in one transaction and one firehose event; then the blob
 * file moves queued in the same tick (see blob/apply.ts), and the account's repo_root.
 */
export interface PreparedCommitResult extends CommitResult {
  /**
   * Settles once the commit's blob files are in place (never rejects). Handlers await it before
   * answering, as the official PDS does, so that a blob a client just referenced is served.
   */
  blobsSettled: Promise<void>
}

export function commitPrepared(s: Services, did: string, store: ActorStore, writes: PreparedRepoWrite[], swapCommit?: Cid): PreparedCommitResult {
  const blobWork: { plan?: BlobPlan } = {}
  let result: CommitResult
  try {
    result = commitWrites(store, s.sequencer, {
      writes: writes.map(toCommitWrite),
      backlinks: writes.map((w) => (w.action === 'delete' ? undefined : w.backlinks)),
      swapCommit: swapCommit ?? null,
      extra: (db) => {
        blobWork.plan = processWriteBlobs(
          db,
          writes.map((w) => ({ action: w.action, uri: w.uri, blobs: w.action === 'delete' ? undefined : w.blobs })),
        )
      },
    })
  } catch (err) {
    if (err instanceof WriteConflictError) {
      // The official lets the MST error through as a 500; it is the client's mistake.
      throw invalidRequest(err.message.charAt(0).toUpperCase() + err.message.slice(1))
    }
    throw err
  }
  const plan = blobWork.plan
  let blobsSettled: Promise<void> = Promise.resolve()
  if (plan) {
    blobsSettled = applyBlobPlan(store.db, s.blobs, did, plan).then(
      (outcome) => {
        if (outcome.failed.length > 0 || outcome.deleteErrors.length > 0) {
          s.logger.warn({ did, failed: outcome.failed.length, deleteErrors: outcome.deleteErrors.length }, 'blob file work after commit incomplete')
        }
      },
      (err) => s.logger.error({ did, err: String(err) }, 'blob file work after commit failed'),
    )
  }
  try {
    s.accounts.updateRepoRoot(did, result.commit.cid.$link, result.commit.rev)
  } catch (err) {
    // As official: the commit stands; the account table's copy is a convenience.
    s.logger.error({ did, err: String(err) }, 'failed to update account root')
  }
  return { ...result, blobsSettled }
}

/** swapCommit against the current head (400 InvalidSwap "Commit was at <cid>"), for checks made before commitWrites. */
export function checkCommitSwap(store: ActorStore, swapCommit: Cid | undefined): void {
  const head = store.head()
  if (swapCommit && head && head.cid.$link !== swapCommit.$link) {
    throw invalidRequest(`Commit was at ${head.cid.$link}`, 'InvalidSwap')
  }
}

/**
 * The official record-swap rule (formatCommit): for a create the record must not exist; for an
 * update or delete, `null` is refused; otherwise the current CID must equal the swap CID.
 * `undefined` means no check. 400 InvalidSwap "Record was at <cid|null>".
 */
export function checkRecordSwap(action: 'create' | 'update' | 'delete', current: Cid | null, swap: Cid | null | undefined): void {
  if (swap === undefined) return
  const fail = () => invalidRequest(`Record was at ${current?.$link ?? 'null'}`, 'InvalidSwap')
  if (action === 'create' && swap !== null) throw fail()
  if (action !== 'create' && swap === null) throw fail()
  if ((current || swap) && !(swap && current && swap.$link === current.$link)) throw fail()
}

/** JSON body limit of the record-writing methods. */
export const WRITE_JSON_LIMIT = 1_000_000
