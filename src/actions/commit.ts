// The one commit path of the repo write methods: whose repo a call may write, the record-swap
// rule, and the commit itself (record writes + blob bookkeeping in one actor-store transaction and
// one event; the blob file moves right after). The account table's copy of the head follows the
// event log (actions/repo-roots.ts).
import { applyBlobPlan } from './blob-apply.ts'
import { assertAccountUsable } from '../account/status.ts'
import type { BlobPlan } from '../actor/blobs.ts'
import type { ActorStore } from '../actor/store.ts'
import { type PreparedRepoWrite, toCommitWrite } from '../actor/prepare.ts'
import { commitWrites, type CommitResult } from '../actor/transactor.ts'
import type { CoreServices } from '../core-services.ts'
import { authRequired, invalidRequest } from '../errors.ts'
import type { Cid } from '../repo/cid.ts'
import { WriteConflictError } from '../repo/commit-builder.ts'

type CommitServices = Pick<CoreServices, 'accounts' | 'actors' | 'blobs' | 'logger' | 'sequencer'>

/**
 * The repo a write call names (handle or DID), as the official `findAccount` with both checks:
 * unknown 403 AccountNotFound, taken down 401 AccountTakedown, deactivated 401
 * AccountDeactivated; and it must be the caller's own (401 AuthenticationRequired).
 */
export function writableRepo(s: Pick<CoreServices, 'accounts' | 'actors'>, callerDid: string, repo: string): { did: string; store: ActorStore } {
  // The three columns the checks need (actor alone), not the whole account row: every write reads it.
  const account = s.accounts.getAccountState(repo, { includeTakenDown: true, includeDeactivated: true })
  assertAccountUsable(account, { checkTakedown: true, checkDeactivated: true })
  if (account.did !== callerDid) throw authRequired()
  const store = s.actors.get(account.did, { forWrite: true })
  if (!store) throw invalidRequest(`No repo root found for ${account.did}`)
  return { did: account.did, store }
}

/**
 * Commits prepared writes: the repo change, the record index with backlinks, and the blob
 * bookkeeping (verify, link, unlink) in one transaction and one firehose event; then the blob
 * file moves queued in the same tick (see blob-apply.ts).
 */
export interface PreparedCommitResult extends CommitResult {
  /**
   * Settles once the commit's event is in the log and its blob files are in place; rejects only
   * if the event could not be appended. Handlers await it before answering: an acknowledged
   * write is on the firehose, and (as the official PDS does) a blob a client just referenced is
   * served.
   */
  settled: Promise<void>
}

const noop = (): void => {}

export function commitPrepared(s: CommitServices, did: string, store: ActorStore, writes: PreparedRepoWrite[], swapCommit?: Cid): PreparedCommitResult {
  const blobWork: { plan?: BlobPlan } = {}
  let result: CommitResult
  try {
    result = commitWrites(store, s.sequencer, {
      writes: writes.map(toCommitWrite),
      backlinks: writes.map((w) => (w.action === 'delete' ? undefined : w.backlinks)),
      swapCommit: swapCommit ?? null,
      deferSequencing: true,
      extra: () => {
        blobWork.plan = store.blobs.processWriteBlobs(
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
  let settled = result.sequenced
  // Most commits (posts without images, likes, follows) have no file work: they take no place
  // in the account's blob queue, whose promise chain would otherwise be paid on every write.
  if (plan && (plan.makePermanent.length > 0 || plan.deleteFiles.length > 0 || plan.discardTempKeys.length > 0)) {
    const blobsSettled = applyBlobPlan(store.blobs, s.blobs, did, plan).then(
      (outcome) => {
        if (outcome.failed.length > 0 || outcome.deleteErrors.length > 0) {
          s.logger.warn({ did, failed: outcome.failed.length, deleteErrors: outcome.deleteErrors.length }, 'blob file work after commit incomplete')
        }
      },
      (err) => s.logger.error({ did, err: String(err) }, 'blob file work after commit failed'),
    )
    settled = Promise.all([result.sequenced, blobsSettled]).then(noop)
  }
  return { ...result, settled }
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

