// com.atproto.server.describeServer: what this server offers to sign-up clients.
import type { Services } from '../../../../services.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function describeServer(s: Pick<Services, 'auth' | 'config'>): XrpcMethod {
  return {
    nsid: 'com.atproto.server.describeServer',
    auth: s.auth.none,
    handler: () => {
      const c = s.config
      const links: Record<string, string> = {}
      if (c.service.privacyPolicyUrl) links.privacyPolicy = c.service.privacyPolicyUrl
      if (c.service.termsOfServiceUrl) links.termsOfService = c.service.termsOfServiceUrl
      const contact: Record<string, string> = {}
      if (c.service.contactEmailAddress) contact.email = c.service.contactEmailAddress
      const body: Record<string, unknown> = {
        did: c.service.did,
        availableUserDomains: c.identity.serviceHandleDomains,
        inviteCodeRequired: c.invites.required,
        // As the official 0.5 line: the largest blob uploadBlob accepts. (Neither 0.4.217 nor
        // 0.5.35 sends phoneVerificationRequired, which clients read as "a captcha is needed".)
        blobUploadLimit: c.service.blobUploadLimit,
        links,
        contact,
      }
      return { encoding: 'application/json', body }
    },
  }
}
