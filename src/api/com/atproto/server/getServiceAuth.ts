// com.atproto.server.getServiceAuth: a short-lived token, signed with the account's repo key,
// that another service accepts as this account (for one method, or briefly for any).
import { createServiceJwt } from '../../../../auth/jwt.ts'
import type { Services } from '../../../../services.ts'
import { isValidDid } from '../../../../repo/syntax.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { isPrivilegedMethod, isProtectedMethod } from '../../../../auth/service-auth-methods.ts'

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

export default function getServiceAuth(s: Pick<Services, 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.getServiceAuth',
    auth: s.auth.access({ additional: ['com.atproto.takendown'] }),
    handler: ({ params, auth }) => {
      if (auth.kind !== 'access') throw invalidRequest('Unexpected credentials')
      const aud = params.aud as string
      const exp = params.exp as number | undefined
      const lxm = (params.lxm as string | undefined) ?? null
      // The official lexicon says `format: did`; newer ones allow `did#serviceId`, so both pass.
      if (!isDidOrServiceRef(aud)) throw invalidRequest('Error: Params/aud must be a valid did')
      // A taken-down account may only move away (create its account elsewhere).
      if (auth.scope === 'com.atproto.takendown' && lxm !== 'com.atproto.server.createAccount') {
        throw invalidRequest('Bad token scope', 'InvalidToken')
      }
      const privilegedSession = auth.scope === 'com.atproto.access' || auth.scope === 'com.atproto.appPassPrivileged'
      if (lxm !== null && isPrivilegedMethod(lxm) && !privilegedSession) {
        throw invalidRequest(`insufficient access to request a service auth token for the following method: ${lxm}`)
      }
      if (exp) {
        const diff = exp * 1000 - Date.now()
        if (diff < 0) throw invalidRequest('expiration is in past', 'BadExpiration')
        if (diff > HOUR_MS) {
          throw invalidRequest('cannot request a token with an expiration more than an hour in the future', 'BadExpiration')
        }
        if (!lxm && diff > MINUTE_MS) {
          throw invalidRequest(
            'cannot request a method-less token with an expiration more than a minute in the future',
            'BadExpiration',
          )
        }
      }
      if (lxm !== null && isProtectedMethod(lxm)) {
        throw invalidRequest(`cannot request a service auth token for the following protected method: ${lxm}`)
      }
      const store = s.actors.get(auth.did)
      if (!store) throw invalidRequest(`Could not find repo for DID: ${auth.did}`)
      const token = createServiceJwt({ iss: auth.did, aud, exp: exp || undefined, lxm, keypair: store.keypair() })
      return { encoding: 'application/json', body: { token } }
    },
  }
}

function isDidOrServiceRef(value: string): boolean {
  const hash = value.indexOf('#')
  if (hash === -1) return isValidDid(value)
  return isValidDid(value.slice(0, hash)) && /^[a-zA-Z0-9._~-]+$/.test(value.slice(hash + 1))
}
