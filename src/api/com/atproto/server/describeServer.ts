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
        phoneVerificationRequired: false,
        // The lexicon's optional field (0.5 line): the largest blob uploadBlob accepts.
        blobUploadLimit: c.service.blobUploadLimit,
        links,
        contact,
      }
      return { encoding: 'application/json', body }
    },
  }
}
