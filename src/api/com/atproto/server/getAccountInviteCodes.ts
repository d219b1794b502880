// com.atproto.server.getAccountInviteCodes: the account's codes, and (when invites are required
// and PDS_INVITE_INTERVAL is set) new ones it has earned since signing up.
import type { InviteCodeInfo } from '../../../../account/invites.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

/** At most this many unused periodic codes at a time (as official). */
const MAX_OPEN_CODES = 5

export default function getAccountInviteCodes(s: Pick<Services, 'accounts' | 'auth' | 'config'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.getAccountInviteCodes',
    auth: s.auth.access({ scopes: ['com.atproto.access'], checkTakedown: true }),
    handler: ({ params, auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const includeUsed = params.includeUsed !== false
      const createAvailable = params.createAvailable !== false
      const account = s.accounts.getAccount(auth.did)
      if (!account) throw invalidRequest('Account not found', 'NotFound')
      const codes = s.accounts.getAccountInviteCodes(auth.did)
      const { required, interval, epoch } = s.config.invites
      if (createAvailable && required && interval !== null) {
        const { toCreate, total } = codesToCreate(codes, Date.parse(account.createdAt), epoch, interval)
        if (toCreate > 0) {
          const fresh = s.accounts.generateInviteCodes(toCreate)
          codes.push(...s.accounts.createAccountInviteCodes(auth.did, fresh, total, !!account.invitesDisabled))
        }
      }
      const visible = codes.filter((c) => !c.disabled && (includeUsed || c.uses.length < c.available))
      return { encoding: 'application/json', body: { codes: visible } }
    },
  }
}

/**
 * How many periodic codes the account has earned and not yet received: one per `interval` of
 * account lifetime counted from `epoch` (or signup, if later), less those already made since the
 * epoch, keeping at most MAX_OPEN_CODES unused. Admin-gifted codes do not count.
 */
function codesToCreate(
  codes: InviteCodeInfo[],
  createdAt: number,
  epoch: number,
  interval: number,
): { toCreate: number; total: number } {
  const routine = codes.filter((c) => c.createdBy !== 'admin')
  const open = routine.filter((c) => !c.disabled && c.available > c.uses.length).length
  const lifespan = Date.now() - createdAt
  const earned =
    createdAt >= epoch
      ? Math.floor(lifespan / interval)
      : Math.floor(lifespan / interval) - Math.floor((epoch - createdAt) / interval)
  const sinceEpoch = routine.filter((c) => Date.parse(c.createdAt) > epoch).length
  const toCreate = Math.min(MAX_OPEN_CODES - open, earned - sinceEpoch)
  return { toCreate, total: routine.length + toCreate }
}
