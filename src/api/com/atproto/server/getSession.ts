// com.atproto.server.getSession: who the access token belongs to.
import type { Services } from '../../../../services.ts'
import { XrpcError } from '../../../../xrpc/errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { sessionView } from './util.ts'

export default function getSession(s: Services): XrpcMethod {
  return {
    nsid: 'com.atproto.server.getSession',
    auth: s.auth.access({ additional: ['com.atproto.takendown', 'com.atproto.signupQueued'] }),
    handler: async ({ auth }) => {
      if (auth.kind !== 'access') throw new XrpcError(401, 'AuthMissing', 'Authentication Required')
      const account = s.accounts.getAccount(auth.did, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw new XrpcError(400, 'InvalidRequest', `Could not find user info for account: ${auth.did}`)
      const out: Record<string, unknown> = sessionView(account)
      if (s.config.identity.enableDidDocWithSession) {
        const doc = await s.didResolver.resolve(account.did).catch(() => null)
        if (doc) out.didDoc = doc
      }
      return { encoding: 'application/json', body: out }
    },
  }
}
