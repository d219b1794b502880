// com.atproto.server.createAccount: a new account with a new did:plc, or an existing DID moving
// in (with a service-auth token from that DID), created deactivated until it is activated.
import { AccountConflictError } from '../../../../account/errors.ts'
import { createHostedAccount } from '../../../../actions/create-account.ts'
import { normalizeAndValidateHandle } from '../../../../actions/handle.ts'
import type { AccountRow } from '../../../../account/accounts.ts'
import { NEW_PASSWORD_MAX_LENGTH } from '../../../../auth/password.ts'
import { isSupportedEmail, UNSUPPORTED_EMAIL_MESSAGE } from '../../../../mail/address.ts'
import { parseDidKey } from '../../../../repo/crypto/index.ts'
import type { Services } from '../../../../services.ts'
import { authRequired, invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

interface Input {
  email?: string
  handle: string
  did?: string
  inviteCode?: string
  password?: string
  recoveryKey?: string
  plcOp?: unknown
}

export default function createAccount(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didCache' | 'didResolver' | 'handleResolver' | 'logger' | 'plc' | 'plcRotationKey' | 'sequencer' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.createAccount',
    auth: s.auth.userServiceAuthOptional,
    rateLimits: [{ name: 'create-account', durationMs: 5 * 60_000, points: 100 }],
    handler: async ({ input, auth }) => {
      const body = input as Input
      // The official order of checks, so the first error a client sees is the same.
      if (body.plcOp !== undefined) throw invalidRequest('Unsupported input: "plcOp"')
      if (body.password !== undefined && body.password.length > NEW_PASSWORD_MAX_LENGTH) {
        throw invalidRequest(`Password too long. Maximum length is ${NEW_PASSWORD_MAX_LENGTH} characters.`)
      }
      const inviteRequired = s.config.invites.required
      if (inviteRequired && !body.inviteCode) throw invalidRequest('No invite code provided', 'InvalidInviteCode')
      if (!body.email) throw invalidRequest('Email is required')
      if (!isSupportedEmail(body.email)) throw invalidRequest(UNSUPPORTED_EMAIL_MESSAGE)
      // Accounts without a password are for an entryway's OAuth; Hearth needs one to log in.
      if (!body.password) throw invalidRequest('Password is required')
      // The same rules as updateHandle (reserved names included); another domain only for a
      // DID moving in whose handle already resolves to it.
      const handle = await normalizeAndValidateHandle(s, body.handle, { did: body.did })
      if (body.recoveryKey !== undefined && !isDidKey(body.recoveryKey)) {
        throw invalidRequest('Invalid recovery key: expected a did:key')
      }
      if (inviteRequired && body.inviteCode) s.accounts.ensureInviteAvailable(body.inviteCode)
      const all = { includeTakenDown: true, includeDeactivated: true }
      // An interrupted migration retried: the inactive account this DID already has here does not
      // hold its own handle and email against it (the official's checks do not see deactivated or
      // taken-down accounts), so the answer is the official "Repo already exists" below and the
      // client logs in to the account instead.
      const takenBy = (holder: AccountRow | null) =>
        !!holder && !(holder.did === body.did && (holder.deactivatedAt !== null || holder.takedownRef !== null))
      if (takenBy(s.accounts.getAccount(handle, all))) throw invalidRequest(`Handle already taken: ${handle}`)
      if (takenBy(s.accounts.getAccountByEmail(body.email, all))) throw invalidRequest(`Email already taken: ${body.email}`)
      if (body.did !== undefined) {
        const requester = auth.kind === 'service' ? auth.did : null
        if (body.did !== requester) throw authRequired(`Missing auth to create account with did: ${body.did}`)
        if (s.accounts.getAccount(body.did, all) || s.actors.exists(body.did)) {
          throw invalidRequest('Repo already exists', 'AlreadyExists')
        }
      }
      let created
      try {
        created = await createHostedAccount(s, {
          handle,
          email: body.email.toLowerCase(),
          password: body.password,
          inviteCode: inviteRequired ? (body.inviteCode ?? null) : null,
          did: body.did,
          recoveryKey: body.recoveryKey,
        })
      } catch (err) {
        // A concurrent signup took the handle or email between the checks and the insert.
        if (err instanceof AccountConflictError) {
          if (err.field === 'handle') throw invalidRequest(`Handle already taken: ${handle}`)
          if (err.field === 'email') throw invalidRequest(`Email already taken: ${body.email}`)
          throw invalidRequest('Repo already exists', 'AlreadyExists')
        }
        throw err
      }
      // As official (safeResolveDidDoc, fresh): the new account's DID document, whatever
      // PDS_ENABLE_DID_DOC_WITH_SESSION says (that setting is for sessions).
      const didDoc = (await s.didResolver.resolve(created.did, true).catch(() => null)) ?? undefined
      return {
        encoding: 'application/json',
        body: {
          handle: created.handle,
          did: created.did,
          ...(didDoc ? { didDoc } : {}),
          accessJwt: created.accessJwt,
          refreshJwt: created.refreshJwt,
        },
      }
    },
  }
}

function isDidKey(value: string): boolean {
  try {
    parseDidKey(value)
    return true
  } catch {
    return false
  }
}
