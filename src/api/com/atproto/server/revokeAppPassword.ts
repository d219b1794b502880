// com.atproto.server.revokeAppPassword: deletes the app password and ends its sessions at once
// (their access tokens are checked against the live session on every request).
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function revokeAppPassword(s: Pick<Services, 'accounts' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.revokeAppPassword',
    auth: s.auth.accessStandard,
    handler: ({ input, auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      // As official: revoking an unknown name succeeds quietly.
      s.accounts.revokeAppPassword(auth.did, (input as { name: string }).name)
    },
  }
}
