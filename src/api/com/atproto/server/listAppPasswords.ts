// com.atproto.server.listAppPasswords: names, creation times and privilege, never the secrets.
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function listAppPasswords(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.listAppPasswords',
    auth: s.auth.accessStandard,
    handler: ({ auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      return { encoding: 'application/json', body: { passwords: s.accounts.listAppPasswords(auth.did) } }
    },
  }
}
