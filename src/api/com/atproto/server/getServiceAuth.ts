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
      // As the official 0.5 line: an atproto DID (did:plc or did:web) or `did#serviceId`.
      if (!isAtprotoDidOrRef(aud)) throw invalidRequest('aud must be a valid atproto DID or did#serviceId reference')
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

const ATPROTO_DID = /^(did:plc:[a-z2-7]{24}|did:web:[a-zA-Z0-9.-]+(%3[aA][0-9]+)?)$/

function isAtprotoDidOrRef(value: string): boolean {
  const hash = value.indexOf('#')
  const did = hash === -1 ? value : value.slice(0, hash)
  if (!isValidDid(did) || !ATPROTO_DID.test(did)) return false
  return hash === -1 || /^[a-zA-Z0-9._~-]+$/.test(value.slice(hash + 1))
}
