// Sends the account emails (tokens for email confirmation, email update, password reset,
// account deletion and PLC operations) and the moderators' messages, through nodemailer.
//
// As the official PDS: with PDS_EMAIL_SMTP_URL + PDS_EMAIL_FROM_ADDRESS set, mail goes out over
// SMTP; without them, mail goes to nodemailer's JSON transport, which builds the message and
// sends nothing, and the API answers exactly as if it had been sent. The official then logs the
// whole message at debug level, token included; Hearth logs one warning the first time instead,
// naming neither the recipient nor the token (a token in a log is a password reset for whoever
// reads the log).
import type { SendMailOptions, Transporter } from 'nodemailer'
import type { EmailConfig } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import { internalError } from '../errors.ts'
import {
  confirmEmailMail,
  deleteAccountMail,
  htmlToPlainText,
  plcOperationMail,
  signInAuthFactorMail,
  type RenderedMail,
  resetPasswordMail,
  type TokenMailParams,
  updateEmailMail,
} from './templates.ts'

export interface MailerOptions {
  /** PDS_EMAIL_SMTP_URL + PDS_EMAIL_FROM_ADDRESS, or null: mail is built but not sent. */
  email: EmailConfig | null
  /** PDS_MODERATION_EMAIL_SMTP_URL + PDS_MODERATION_EMAIL_ADDRESS, or null. */
  moderationEmail?: EmailConfig | null
  /** PDS_EMAIL_DISABLE_CONFIRMATION_LINK. */
  disableConfirmationLink?: boolean
  logger: Logger
}

/** Who a message goes to; `to` is the account's current address. */
export interface MailTarget {
  to: string
}

export interface ModerationMail extends MailTarget {
  /** Default as official: "Message via your PDS". */
  subject?: string
  /** HTML written by the moderator; a plain-text twin is derived from it. */
  content: string
}

const DEFAULT_MODERATION_SUBJECT = 'Message via your PDS'

export class Mailer {
  /** Whether account mail really leaves the server (SMTP configured). */
  readonly configured: boolean
  /** Whether moderation mail really leaves the server. */
  readonly moderationConfigured: boolean
  // Built on first use: nodemailer is loaded only when a mail is sent (a few MB of resident
  // memory a server that never mails does not pay).
  readonly #smtpUrl: string | null
  readonly #moderationSmtpUrl: string | null
  #transport: Promise<Transporter> | null = null
  #moderationTransport: Promise<Transporter> | null = null
  readonly #from: string | undefined
  readonly #moderationFrom: string | undefined
  readonly #disableConfirmationLink: boolean
  readonly #logger: Logger
  #warnedUnconfigured = false
  #warnedModerationUnconfigured = false

  constructor(opts: MailerOptions) {
    this.configured = opts.email !== null
    this.moderationConfigured = (opts.moderationEmail ?? null) !== null
    this.#smtpUrl = opts.email?.smtpUrl ?? null
    this.#moderationSmtpUrl = opts.moderationEmail?.smtpUrl ?? null
    this.#from = opts.email?.fromAddress
    this.#moderationFrom = opts.moderationEmail?.fromAddress
    this.#disableConfirmationLink = opts.disableConfirmationLink ?? false
    this.#logger = opts.logger
  }

  sendConfirmEmail(params: TokenMailParams, target: MailTarget): Promise<void> {
    return this.#send('confirm_email', confirmEmailMail({ ...params, disableLink: this.#disableConfirmationLink }), target)
  }

  sendUpdateEmail(params: TokenMailParams, target: MailTarget): Promise<void> {
    return this.#send('update_email', updateEmailMail(params), target)
  }

  sendResetPassword(params: TokenMailParams, target: MailTarget): Promise<void> {
    return this.#send('reset_password', resetPasswordMail(params), target)
  }

  sendAccountDelete(params: TokenMailParams, target: MailTarget): Promise<void> {
    return this.#send('delete_account', deleteAccountMail(params), target)
  }

  sendPlcOperation(params: TokenMailParams, target: MailTarget): Promise<void> {
    return this.#send('plc_operation', plcOperationMail(params), target)
  }

  /** The code an email two-factor sign-in asks for (token purpose `auth_factor`). */
  sendSignInAuthFactor(params: TokenMailParams, target: MailTarget): Promise<void> {
    return this.#send('auth_factor', signInAuthFactorMail(params), target)
  }

  /** admin.sendEmail: a moderator's message, through the moderation mailer. */
  async sendModerationEmail(mail: ModerationMail): Promise<void> {
    if (!this.moderationConfigured && !this.#warnedModerationUnconfigured) {
      this.#warnedModerationUnconfigured = true
      this.#logger.warn(
        'moderation email is not configured (PDS_MODERATION_EMAIL_SMTP_URL / PDS_MODERATION_EMAIL_ADDRESS): moderation mail is not sent',
      )
    }
    this.#moderationTransport ??= createTransport(this.#moderationSmtpUrl)
    await this.#deliver(this.#moderationTransport, 'moderation', {
      to: mail.to,
      from: this.#moderationFrom,
      subject: mail.subject ?? DEFAULT_MODERATION_SUBJECT,
      html: mail.content,
      text: htmlToPlainText(mail.content),
    })
  }

  close(): void {
    for (const transport of [this.#transport, this.#moderationTransport]) {
      transport?.then((t) => t.close(), () => {})
    }
  }

  async #send(kind: string, mail: RenderedMail, target: MailTarget): Promise<void> {
    if (!this.configured && !this.#warnedUnconfigured) {
      this.#warnedUnconfigured = true
      this.#logger.warn(
        'email is not configured (PDS_EMAIL_SMTP_URL / PDS_EMAIL_FROM_ADDRESS): account emails such as confirmation and password-reset codes are not sent',
      )
    }
    this.#transport ??= createTransport(this.#smtpUrl)
    await this.#deliver(this.#transport, kind, {
      to: target.to,
      from: this.#from,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
    })
  }

  async #deliver(transport: Promise<Transporter>, kind: string, message: SendMailOptions): Promise<void> {
    try {
      await (await transport).sendMail(message)
    } catch (err) {
      // The SMTP server's reply can quote the message; log only what kind of mail failed and why.
      const reason = err instanceof Error ? ((err as { code?: string }).code ?? err.name) : 'unknown'
      this.#logger.error({ kind, reason }, 'failed to send email')
      throw internalError()
    }
  }
}

/**
 * SMTP when a URL is configured, else nodemailer's JSON transport (builds the message, sends
 * nothing). nodemailer's own SMTP timeouts (2 minutes to connect, 10 of socket silence) would
 * hold an API request that long when the mail server is down; these fail it sooner. Parameters
 * in the URL (e.g. `?connectionTimeout=`) still win.
 */
async function createTransport(smtpUrl: string | null): Promise<Transporter> {
  const { default: nodemailer } = await import('nodemailer')
  if (smtpUrl === null) return nodemailer.createTransport({ jsonTransport: true })
  return nodemailer.createTransport({ url: smtpUrl, connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 60_000 })
}
