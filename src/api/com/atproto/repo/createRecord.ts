// com.atproto.repo.createRecord: one new record (rkey given or a new TID). With validation on,
// older follows/blocks/likes/reposts of the same subject are deleted in the same commit.
import { prepareCreate, prepareDelete, type PreparedRepoWrite } from '../../../../actor/prepare.ts'
import { assertRepoPermission } from '../../../../auth/permissions.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { commitPrepared, writableRepo } from '../../../../actions/commit.ts'
import { optionalCid, repoWriteLimits, WRITE_JSON_LIMIT } from './util.ts'

interface Input {
  repo: string
  collection: string
  rkey?: string
  validate?: boolean
  record: unknown
  swapCommit?: string
}

export default function createRecord(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'logger' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.repo.createRecord',
    // Records may be large: the official PDS (0.5) accepts write bodies up to 1,000,000 bytes.
    jsonLimit: WRITE_JSON_LIMIT,
    // Takedown and deactivation are checked in the handler, where `repo` is resolved.
    auth: s.auth.accessStandard,
    rateLimits: repoWriteLimits(() => 3),
    handler: async ({ input, auth }) => {
      const body = input as Input
      const { did, store } = writableRepo(s, auth.did, body.repo)
      assertRepoPermission(auth, body.collection, 'create')
      const swapCommit = optionalCid(body.swapCommit, 'swapCommit')
      const write = prepareCreate({ did, collection: body.collection, rkey: body.rkey, record: body.record, validate: body.validate })
      const writes: PreparedRepoWrite[] = []
      if (body.validate !== false && write.backlinks.length > 0) {
        const seen = new Set<string>()
        for (const link of write.backlinks) {
          for (const rkey of store.backlinkConflicts(write.collection, link.path, link.linkTo)) {
            if (seen.has(rkey)) continue
            seen.add(rkey)
            writes.push(prepareDelete({ did, collection: write.collection, rkey }))
          }
        }
      }
      writes.push(write)
      const { commit, settled } = commitPrepared(s, did, store, writes, swapCommit)
      await settled
      return {
        encoding: 'application/json',
        body: {
          uri: write.uri,
          cid: write.cid.$link,
          commit: { cid: commit.cid.$link, rev: commit.rev },
          validationStatus: write.validationStatus,
        },
      }
    },
  }
}
