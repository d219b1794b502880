// com.atproto.server.describeServer: what this server offers to sign-up clients.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function describeServer(s: Services): XrpcMethod {
  return {
    nsid: 'com.atproto.server.describeServer',
    auth: s.auth.none,
    handler: () => {
      const c = s.config
      const links: Record<string, string> = {}
      if (c.oauth.branding.privacyPolicyUrl) links.privacyPolicy = c.oauth.branding.privacyPolicyUrl
      if (c.oauth.branding.termsOfServiceUrl) links.termsOfService = c.oauth.branding.termsOfServiceUrl
      const body: Record<string, unknown> = {
        did: c.service.did,
        availableUserDomains: c.identity.serviceHandleDomains,
        inviteCodeRequired: c.invites.required,
        phoneVerificationRequired: false,
        links,
        contact: {},
      }
      return { encoding: 'application/json', body }
    },
  }
}
