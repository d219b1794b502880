// com.atproto.server.getSession: who the access token belongs to.
import { allowsEmailRead } from '../../../../auth/permissions.ts'
import type { Services } from '../../../../services.ts'
import { XrpcError } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { didDocForSession, sessionView } from './util.ts'

export default function getSession(s: Pick<Services, 'accounts' | 'auth' | 'config' | 'didResolver'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.getSession',
    auth: s.auth.access({ additional: ['com.atproto.signupQueued'] }),
    handler: async ({ auth }) => {
      if (auth.kind !== 'access') throw new XrpcError(401, 'AuthMissing', 'Authentication Required')
      const account = s.accounts.getAccount(auth.did, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw new XrpcError(400, 'InvalidRequest', `Could not find user info for account: ${auth.did}`)
      const didDoc = await didDocForSession(s, account.did)
      const out: Record<string, unknown> = { ...sessionView(account, !!s.accounts.getEmailAuthFactor(account.did)), ...(didDoc ? { didDoc } : {}) }
      // An OAuth session sees the email only with the account:email read permission, as official.
      if (!allowsEmailRead(auth)) {
        delete out.email
        delete out.emailConfirmed
        delete out.emailAuthFactor
      }
      return { encoding: 'application/json', body: out }
    },
  }
}
