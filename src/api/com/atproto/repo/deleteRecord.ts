// com.atproto.repo.deleteRecord: deleting a record that does not exist is a no-op (no commit).
import { prepareDelete } from '../../../../actor/prepare.ts'
import { assertRepoPermission } from '../../../../auth/permissions.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { assertCommitSwap } from '../../../../actor/transactor.ts'
import { checkRecordSwap, commitPrepared, writableRepo } from '../../../../actions/commit.ts'
import { optionalCid, repoWriteLimits } from './util.ts'

interface Input {
  repo: string
  collection: string
  rkey: string
  swapRecord?: string
  swapCommit?: string
}

export default function deleteRecord(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'logger' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.repo.deleteRecord',
    auth: s.auth.accessStandard,
    rateLimits: repoWriteLimits(() => 1),
    handler: async ({ input, auth }) => {
      const body = input as Input
      const { did, store } = writableRepo(s, auth.did, body.repo)
      assertRepoPermission(auth, body.collection, 'delete')
      const swapCommit = optionalCid(body.swapCommit, 'swapCommit')
      const swapRecord = optionalCid(body.swapRecord, 'swapRecord')
      const current = store.getRecord(body.collection, body.rkey)
      let commit: { cid: string; rev: string } | undefined
      if (current) {
        assertCommitSwap(store.head(), swapCommit)
        checkRecordSwap('delete', current.cid, swapRecord)
        const result = commitPrepared(s, did, store, [prepareDelete({ did, collection: body.collection, rkey: body.rkey })], swapCommit)
        await result.settled
        commit = { cid: result.commit.cid.$link, rev: result.commit.rev }
      }
      return { encoding: 'application/json', body: { commit } }
    },
  }
}
