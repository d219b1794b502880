// com.atproto.identity.resolveDid: a DID's document (through the DID cache), without checking its
// handle. Not served by the official PDS, which forwards it to the AppView behind auth; Hearth
// answers it itself, as it already resolves DIDs for its own use.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { resolveDidDoc } from './identity-info.ts'

export default function resolveDid(s: Pick<Services, 'auth' | 'didResolver' | 'plc'>): XrpcMethod {
  return {
    nsid: 'com.atproto.identity.resolveDid',
    auth: s.auth.none,
    handler: async ({ params }) => {
      const didDoc = await resolveDidDoc(s, params.did as string)
      return { encoding: 'application/json', body: { didDoc } }
    },
  }
}
