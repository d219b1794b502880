// Which service a proxied method goes to by default, and which methods a session may not reach
// through the proxy (the official pipethrough.ts lists; the method sets themselves live beside
// getServiceAuth, which applies the same rules to the tokens it issues).
import type { AppViewConfig, ServerConfig, ServiceEndpointConfig } from '../config/index.ts'

export { isPrivilegedMethod, isProtectedMethod } from '../auth/service-auth-methods.ts'

// Moderation-tool methods the official PDS sends to PDS_MOD_SERVICE_* by default.
const MOD_SERVICE_METHODS: ReadonlySet<string> = new Set([
  'tools.ozone.communication.createTemplate',
  'tools.ozone.communication.deleteTemplate',
  'tools.ozone.communication.listTemplates',
  'tools.ozone.communication.updateTemplate',
  'tools.ozone.moderation.cancelScheduledActions',
  'tools.ozone.moderation.emitEvent',
  'tools.ozone.moderation.getAccountTimeline',
  'tools.ozone.moderation.getEvent',
  'tools.ozone.moderation.getRecord',
  'tools.ozone.moderation.getRepo',
  'tools.ozone.moderation.listScheduledActions',
  'tools.ozone.moderation.queryEvents',
  'tools.ozone.moderation.queryStatuses',
  'tools.ozone.moderation.scheduleAction',
  'tools.ozone.moderation.searchRepos',
  'tools.ozone.safelink.addRule',
  'tools.ozone.safelink.queryEvents',
  'tools.ozone.safelink.queryRules',
  'tools.ozone.safelink.removeRule',
  'tools.ozone.safelink.updateRule',
  'tools.ozone.team.addMember',
  'tools.ozone.team.deleteMember',
  'tools.ozone.team.listMembers',
  'tools.ozone.team.updateMember',
  'tools.ozone.verification.grantVerifications',
  'tools.ozone.verification.listVerifications',
  'tools.ozone.verification.revokeVerifications',
])

export interface DefaultService {
  /** The DID-document service id the default stands for (`did#serviceId` in audiences). */
  serviceId: 'bsky_appview' | 'atproto_labeler'
  service: ServiceEndpointConfig | AppViewConfig | null
}

/** Where a method goes without an `atproto-proxy` header (the service may be unconfigured). */
export function defaultService(config: Pick<ServerConfig, 'bskyAppView' | 'modService' | 'reportService'>, nsid: string): DefaultService {
  // Exact, case-sensitive matches, as the official switch statement.
  if (MOD_SERVICE_METHODS.has(nsid)) return { serviceId: 'atproto_labeler', service: config.modService }
  if (nsid === 'com.atproto.moderation.createReport') return { serviceId: 'atproto_labeler', service: config.reportService }
  return { serviceId: 'bsky_appview', service: config.bskyAppView }
}
