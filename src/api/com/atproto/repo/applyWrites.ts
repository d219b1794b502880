// com.atproto.repo.applyWrites: up to 200 creates, updates and deletes in one commit. Results
// keep the order of the writes. No record swaps and no backlink dedupe, as the official.
import {
  prepareCreate,
  prepareDelete,
  type PreparedRepoWrite,
  prepareUpdate,
} from '../../../../actor/prepare.ts'
import { assertRepoPermission } from '../../../../auth/permissions.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcContext, XrpcMethod } from '../../../../xrpc/types.ts'
import { commitPrepared, writableRepo } from '../../../../actions/commit.ts'
import { optionalCid, repoWriteLimits, WRITE_JSON_LIMIT } from './util.ts'

export const MAX_WRITES = 200

const CREATE = 'com.atproto.repo.applyWrites#create'
const UPDATE = 'com.atproto.repo.applyWrites#update'
const DELETE = 'com.atproto.repo.applyWrites#delete'

interface WriteOp {
  $type?: string
  collection: string
  rkey?: string
  value?: unknown
}

interface Input {
  repo: string
  validate?: boolean
  writes: WriteOp[]
  swapCommit?: string
}

function points(ctx: XrpcContext): number {
  const writes = (ctx.input as Input | undefined)?.writes
  if (!Array.isArray(writes)) return 1
  let total = 0
  for (const w of writes) total += w?.$type === CREATE ? 3 : w?.$type === UPDATE ? 2 : 1
  return total
}

export default function applyWrites(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'logger' | 'sequencer'>): XrpcMethod<AccessAuth> {
  return {
    nsid: 'com.atproto.repo.applyWrites',
    // Records may be large: the official PDS (0.5) accepts write bodies up to 1,000,000 bytes.
    jsonLimit: WRITE_JSON_LIMIT,
    auth: s.auth.accessStandard,
    rateLimits: repoWriteLimits(points),
    handler: async ({ input, auth }) => {
      const body = input as Input
      const { did, store } = writableRepo(s, auth.did, body.repo)
      if (body.writes.length > MAX_WRITES) throw invalidRequest(`Too many writes. Max: ${MAX_WRITES}`)
      // OAuth: every distinct action/collection pair must be granted (as official, before any write).
      for (const w of body.writes) {
        const action = w.$type === CREATE ? 'create' : w.$type === UPDATE ? 'update' : w.$type === DELETE ? 'delete' : null
        if (action) assertRepoPermission(auth, w.collection, action)
      }
      const prepared: PreparedRepoWrite[] = body.writes.map((w) => {
        const base = { did, collection: w.collection, record: w.value, validate: body.validate }
        switch (w.$type) {
          case CREATE:
            return prepareCreate({ ...base, rkey: w.rkey })
          case UPDATE:
            return prepareUpdate({ ...base, rkey: w.rkey as string })
          case DELETE:
            return prepareDelete({ did, collection: w.collection, rkey: w.rkey as string })
          default:
            throw invalidRequest(`Action not supported: ${String(w.$type)}`)
        }
      })
      const swapCommit = optionalCid(body.swapCommit, 'swapCommit')
      const { commit, settled } = commitPrepared(s, did, store, prepared, swapCommit)
      await settled
      return {
        encoding: 'application/json',
        body: {
          commit: { cid: commit.cid.$link, rev: commit.rev },
          results: prepared.map((w) =>
            w.action === 'delete'
              ? { $type: 'com.atproto.repo.applyWrites#deleteResult' }
              : {
                  $type: `com.atproto.repo.applyWrites#${w.action}Result`,
                  uri: w.uri,
                  cid: w.cid.$link,
                  validationStatus: w.validationStatus,
                },
          ),
        },
      }
    },
  }
}
