// com.atproto.repo.deleteRecord: deleting a record that does not exist is a no-op (no commit).
import { prepareDelete } from '../../../../actor/prepare.ts'
import { assertRepoPermission } from '../../../../auth/permissions.ts'
import type { AccessAuth } from '../../../../auth/types.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { checkCommitSwap, checkRecordSwap, commitPrepared, optionalCid, repoWriteLimits, writableRepo } from './util.ts'

interface Input {
  repo: string
  collection: string
  rkey: string
  swapRecord?: string
  swapCommit?: string
}

export default function deleteRecord(s: Services): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.repo.deleteRecord',
    auth: s.auth.accessStandard,
    rateLimits: repoWriteLimits(() => 1),
    handler: async ({ input, auth }) => {
      const body = input as Input
      const { did, store } = writableRepo(s, auth, body.repo)
      assertRepoPermission(auth, body.collection, 'delete')
      const swapCommit = optionalCid(body.swapCommit, 'swapCommit')
      const swapRecord = optionalCid(body.swapRecord, 'swapRecord')
      const current = store.getRecord(body.collection, body.rkey)
      let commit: { cid: string; rev: string } | undefined
      if (current) {
        checkCommitSwap(store, swapCommit)
        checkRecordSwap('delete', current.cid, swapRecord)
        const result = commitPrepared(s, did, store, [prepareDelete({ did, collection: body.collection, rkey: body.rkey })], swapCommit)
        await result.blobsSettled
        commit = { cid: result.commit.cid.$link, rev: result.commit.rev }
      }
      return { encoding: 'application/json', body: { commit } }
    },
  }
}
