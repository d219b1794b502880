// The methods getServiceAuth treats specially (the official PDS's pipethrough.ts lists).
// Compared case-insensitively, as the official LxmSet does.

const CHAT_BSKY_METHODS = [
  'chat.bsky.actor.deleteAccount',
  'chat.bsky.actor.exportAccountData',
  'chat.bsky.convo.deleteMessageForSelf',
  'chat.bsky.convo.getConvo',
  'chat.bsky.convo.getConvoForMembers',
  'chat.bsky.convo.getLog',
  'chat.bsky.convo.getMessages',
  'chat.bsky.convo.leaveConvo',
  'chat.bsky.convo.listConvos',
  'chat.bsky.convo.muteConvo',
  'chat.bsky.convo.sendMessage',
  'chat.bsky.convo.sendMessageBatch',
  'chat.bsky.convo.unmuteConvo',
  'chat.bsky.convo.updateRead',
]

const lower = (list: string[]): ReadonlySet<string> => new Set(list.map((m) => m.toLowerCase()))

/** Need a password session or a privileged app password. */
const PRIVILEGED = lower([...CHAT_BSKY_METHODS, 'com.atproto.server.createAccount'])

/** Account management: never by service auth. */
const PROTECTED = lower([
  'com.atproto.admin.sendEmail',
  'com.atproto.identity.requestPlcOperationSignature',
  'com.atproto.identity.signPlcOperation',
  'com.atproto.identity.updateHandle',
  'com.atproto.server.activateAccount',
  'com.atproto.server.confirmEmail',
  'com.atproto.server.createAppPassword',
  'com.atproto.server.deactivateAccount',
  'com.atproto.server.getAccountInviteCodes',
  'com.atproto.server.getSession',
  'com.atproto.server.listAppPasswords',
  'com.atproto.server.requestAccountDelete',
  'com.atproto.server.requestEmailConfirmation',
  'com.atproto.server.requestEmailUpdate',
  'com.atproto.server.revokeAppPassword',
  'com.atproto.server.updateEmail',
])

export const isPrivilegedMethod = (lxm: string): boolean => PRIVILEGED.has(lxm.toLowerCase())
export const isProtectedMethod = (lxm: string): boolean => PROTECTED.has(lxm.toLowerCase())
