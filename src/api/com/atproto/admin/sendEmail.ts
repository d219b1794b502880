// com.atproto.admin.sendEmail (moderator): a moderator's message to an account's email, through
// the moderation mailer (PDS_MODERATION_EMAIL_*).
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function sendEmail(s: Pick<Services, 'accounts' | 'auth' | 'mailer'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.sendEmail',
    auth: s.auth.moderator,
    handler: async ({ input }) => {
      const { recipientDid, content, subject } = input as { recipientDid: string; content: string; subject?: string }
      const account = s.accounts.getAccount(recipientDid, { includeTakenDown: true, includeDeactivated: true })
      if (!account) throw invalidRequest('Recipient not found')
      if (!account.email) throw invalidRequest('account does not have an email address')
      await s.mailer.sendModerationEmail({ to: account.email, content, subject })
      return { encoding: 'application/json', body: { sent: true } }
    },
  }
}
