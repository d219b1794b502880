// com.atproto.server.createAppPassword: a new app password, shown once. Full (password)
// sessions only, so an app password cannot mint more of itself.
import { AccountConflictError } from '../../../../account/errors.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function createAppPassword(s: Pick<Services, 'auth' | 'sessions'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.createAppPassword',
    auth: s.auth.access({ scopes: ['com.atproto.access'], checkTakedown: true }),
    handler: async ({ input, auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const body = input as { name: string; privileged?: boolean }
      try {
        const created = await s.sessions.createAppPassword(auth.did, body.name, body.privileged ?? false)
        return { encoding: 'application/json', body: created }
      } catch (err) {
        // The official PDS fails here on its unique constraint; a named 400 says why.
        if (err instanceof AccountConflictError) {
          throw invalidRequest(`An app password with that name already exists: ${body.name}`)
        }
        throw err
      }
    },
  }
}
