// com.atproto.server.createAccount: a new account with a new did:plc, or an existing DID moving
// in (with a service-auth token from that DID), created deactivated until it is activated.
import { AccountConflictError } from '../../../../account/errors.ts'
import { createHostedAccount } from '../../../../account/create.ts'
import { NEW_PASSWORD_MAX_LENGTH } from '../../../../auth/password.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest, XrpcError } from '../../../../xrpc/errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { normalizeSignupHandle } from './util.ts'

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export default function createAccount(s: Services): XrpcMethod {
  return {
    nsid: 'com.atproto.server.createAccount',
    auth: s.auth.userServiceAuthOptional,
    rateLimits: [{ name: 'create-account', durationMs: 5 * 60_000, points: 100 }],
    handler: async ({ input, auth }) => {
      const body = input as {
        email?: string
        handle: string
        did?: string
        inviteCode?: string
        password?: string
        recoveryKey?: string
        plcOp?: unknown
      }
      if (body.plcOp !== undefined) throw invalidRequest('Unsupported input: "plcOp"')
      if (!body.email) throw invalidRequest('Email is required')
      if (!EMAIL.test(body.email)) throw invalidRequest('This email address is not supported, please use a different email.')
      if (!body.password) throw invalidRequest('Password is required')
      if (body.password.length > NEW_PASSWORD_MAX_LENGTH) {
        throw invalidRequest(`Password too long. Maximum length is ${NEW_PASSWORD_MAX_LENGTH} characters.`)
      }
      const handle = normalizeSignupHandle(s, body.handle)
      if (body.did !== undefined) {
        if (auth.kind !== 'service' || auth.iss !== body.did) {
          throw new XrpcError(401, 'AuthMissing', 'Missing auth to create account with existing DID')
        }
      }
      if (s.config.invites.required) {
        if (!body.inviteCode) throw invalidRequest('No invite code provided', 'InvalidInviteCode')
        s.accounts.ensureInviteAvailable(body.inviteCode)
      }
      if (s.accounts.getAccount(handle, { includeTakenDown: true, includeDeactivated: true })) {
        throw invalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      }
      if (s.accounts.getAccountByEmail(body.email, { includeTakenDown: true, includeDeactivated: true })) {
        throw invalidRequest(`Email already taken: ${body.email}`)
      }
      try {
        const created = await createHostedAccount(s, {
          handle,
          email: body.email.toLowerCase(),
          password: body.password,
          inviteCode: body.inviteCode ?? null,
          did: body.did,
          recoveryKey: body.recoveryKey,
        })
        const out: Record<string, unknown> = {
          handle: created.handle,
          did: created.did,
          accessJwt: created.accessJwt,
          refreshJwt: created.refreshJwt,
        }
        if (s.config.identity.enableDidDocWithSession) {
          const doc = await s.didResolver.resolve(created.did).catch(() => null)
          if (doc) out.didDoc = doc
        }
        return { encoding: 'application/json', body: out }
      } catch (err) {
        if (err instanceof AccountConflictError) {
          if (err.field === 'handle') throw invalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
          if (err.field === 'email') throw invalidRequest(`Email already taken: ${body.email}`)
          throw invalidRequest(`Account already exists`)
        }
        throw err
      }
    },
  }
}
