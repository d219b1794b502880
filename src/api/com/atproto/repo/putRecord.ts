// com.atproto.repo.putRecord: create or replace the record at a key. Identical content is a
// no-op (no commit; `commit` left out of the response), as the official.
import { prepareCreate, prepareUpdate } from '../../../../actor/prepare.ts'
import { assertRepoPermission } from '../../../../auth/permissions.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { cidEquals } from '../../../../repo/cid.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { assertCommitSwap } from '../../../../actor/transactor.ts'
import { checkRecordSwap, commitPrepared, writableRepo } from '../../../../actions/commit.ts'
import { optionalCid, repoWriteLimits, WRITE_JSON_LIMIT } from './util.ts'

interface Input {
  repo: string
  collection: string
  rkey: string
  validate?: boolean
  record: unknown
  swapRecord?: string | null
  swapCommit?: string
}

export default function putRecord(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'logger' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.repo.putRecord',
    // Records may be large: the official PDS (0.5) accepts write bodies up to 1,000,000 bytes.
    jsonLimit: WRITE_JSON_LIMIT,
    auth: s.auth.accessStandard,
    rateLimits: repoWriteLimits(() => 2),
    handler: async ({ input, auth }) => {
      const body = input as Input
      const { did, store } = writableRepo(s, auth.did, body.repo)
      // As official: an OAuth put needs both, whether or not the record exists.
      assertRepoPermission(auth, body.collection, 'create')
      assertRepoPermission(auth, body.collection, 'update')
      const swapCommit = optionalCid(body.swapCommit, 'swapCommit')
      const swapRecord = body.swapRecord === null ? null : optionalCid(body.swapRecord, 'swapRecord')
      const current = store.getRecord(body.collection, body.rkey)
      const opts = { did, collection: body.collection, rkey: body.rkey, record: body.record, validate: body.validate }
      const write = current ? prepareUpdate(opts) : prepareCreate(opts)
      let commit: { cid: string; rev: string } | undefined
      if (!current || !cidEquals(current.cid, write.cid)) {
        assertCommitSwap(store.head(), swapCommit)
        checkRecordSwap(write.action, current?.cid ?? null, swapRecord)
        const result = commitPrepared(s, did, store, [write], swapCommit)
        await result.settled
        commit = { cid: result.commit.cid.$link, rev: result.commit.rev }
      }
      return {
        encoding: 'application/json',
        body: { uri: write.uri, cid: write.cid.$link, commit, validationStatus: write.validationStatus },
      }
    },
  }
}
