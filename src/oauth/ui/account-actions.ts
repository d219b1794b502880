// The account holder's settings on /account: app passwords, password, email, handle,
// deactivation, deletion. Each action applies the rules of its XRPC method (the same stores and
// src/actions/ functions, the same takedown checks, the same per-account email limits) and turns
// its refusals into plain words; a page is never a way around a rule the API enforces.
import type { AccountRow } from '../../account/accounts.ts'
import { AccountConflictError } from '../../account/errors.ts'
import { activateAccount, deactivateAccount } from '../../actions/account-state.ts'
import { removeAccount } from '../../actions/delete-account.ts'
import { isValidTld } from '../../repo/syntax.ts'
import { normalizeHandleSyntax, serviceDomainOf, updateAccountHandle } from '../../actions/handle.ts'
import { NEW_PASSWORD_MAX_LENGTH, OLD_PASSWORD_MAX_LENGTH } from '../../auth/password.ts'
import { XrpcError } from '../../errors.ts'
import { isSupportedEmail, UNSUPPORTED_EMAIL_MESSAGE } from '../../mail/address.ts'
import { MemoryRateLimiter } from '../../xrpc/rate-limiter.ts'
import type { PagesContext } from './context.ts'
import { FormError } from './forms.ts'

/** What an action leaves for the page: a notice (redirected to), or an answer shown once. */
export type SettingsOutcome =
  | { kind: 'redirect'; done: string }
  | {
      kind: 'page'
      notice?: string
      error?: string
      status?: number
      created?: { name: string; password: string }
      handleCheck?: HandleCheck
      /** A code for turning sign-in codes off was mailed. */
      awaitingCode?: boolean
    }

export interface HandleCheck {
  handle: string
  /** The DID the handle resolves to now, or null when it resolves to none. */
  resolvedTo: string | null
}

/** Notices after a redirect, by `done` value. */
export const SETTINGS_NOTICES: Record<string, string> = {
  'app-password-revoked': 'App password revoked. Apps signed in with it are signed out.',
  'password-session-revoked': 'Session ended. The app using it is signed out.',
  'password-changed': 'Password changed. Every other device, app session and OAuth app was signed out; app passwords still work.',
  'email-confirmed': 'Email address confirmed.',
  'email-2fa-on': 'Sign-in codes by email are on: signing in with your password now also asks for a code we email you. App passwords are not affected.',
  'email-2fa-off': 'Sign-in codes by email are off.',
  'email-updated': 'Email address changed. Confirm the new address with the code we can send to it.',
  'handle-updated': 'Handle changed.',
  deactivated: 'Account deactivated. Your data is kept; reactivate it here whenever you like.',
  activated: 'Account reactivated.',
  deleted: 'Account deleted.',
}

const HOUR = 60 * 60_000
const DAY = 24 * HOUR

/** The limits the XRPC methods apply, with counters of the pages' own. */
export class SettingsLimits {
  readonly #email = new Map<string, MemoryRateLimiter[]>()
  readonly #handle = [
    new MemoryRateLimiter('page-update-handle-5m', 5 * 60_000, 10),
    new MemoryRateLimiter('page-update-handle-day', DAY, 50),
  ]
  // Password guesses through the page count as sign-in attempts would (30 per 5 minutes).
  readonly #password = new MemoryRateLimiter('page-password-check-5m', 5 * 60_000, 30)
  readonly #handleCheck = new MemoryRateLimiter('page-handle-check-5m', 5 * 60_000, 30)

  /** requestEmailConfirmation, requestEmailUpdate, requestAccountDelete: 5 an hour, 15 a day each. */
  email(kind: string, did: string): void {
    let limiters = this.#email.get(kind)
    if (!limiters) {
      limiters = [new MemoryRateLimiter(`page-${kind}-day`, DAY, 15), new MemoryRateLimiter(`page-${kind}-hour`, HOUR, 5)]
      this.#email.set(kind, limiters)
    }
    spend(limiters, did, 'Too many emails asked for. Wait an hour and try again.')
  }

  handle(did: string): void {
    spend(this.#handle, did, 'Too many handle changes. Wait a few minutes and try again.')
  }

  handleCheck(did: string): void {
    spend([this.#handleCheck], did, 'Too many checks. Wait a few minutes and try again.')
  }

  password(did: string): void {
    spend([this.#password], did, 'Too many password attempts. Wait a few minutes and try again.')
  }
}

function spend(limiters: MemoryRateLimiter[], key: string, message: string): void {
  let exceeded = false
  for (const l of limiters) if (l.consume(key, 1).exceeded) exceeded = true
  if (exceeded) throw new FormError(429, message)
}

/** The plain-words version of an API refusal. */
export function plainMessage(err: XrpcError): string {
  const m = err.message
  if (err.error === 'InvalidToken' || m === 'Token is invalid') return 'That code is not right. Check the latest email we sent, or ask for a new code.'
  if (err.error === 'ExpiredToken' || m === 'Token is expired') return 'That code has expired. Ask for a new one.'
  if (err.error === 'TokenRequired') return 'Enter the code we emailed to your current address.'
  if (m.startsWith('Handle already taken: ')) return `The handle ${m.slice('Handle already taken: '.length)} is already taken. Choose another.`
  if (m === 'Handle too short') return 'That name is too short: use at least 3 characters before the domain.'
  if (m === 'Handle too long') return 'That name is too long: use at most 18 characters before the domain.'
  if (m === 'Invalid characters in handle') return 'A name under this server’s domain cannot contain dots.'
  if (m === 'Reserved handle') return 'That name is reserved. Choose another.'
  if (m === 'Handle is invalid' || m === 'Handle TLD is invalid or disallowed') {
    return 'That is not a valid handle: use letters, digits and hyphens, with a dot between the parts (like alice.example.com).'
  }
  if (m === 'External handle did not resolve to DID') {
    return 'That domain does not point to your account yet. Add the DNS record or the file described below, wait for it to take effect, and try again.'
  }
  if (m === 'DID is not properly configured for handle') return 'Your did:web document does not name this handle yet. Update did.json first.'
  if (/account is not active|not properly configured|DID document/i.test(m)) return `This server cannot reactivate the account yet: ${m}`
  return m
}

type Account = AccountRow

function account(ctx: PagesContext, did: string): Account {
  const a = ctx.s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
  if (!a) throw new FormError(400, 'This account no longer exists.')
  return a
}

/** As the methods' checkTakedown: a taken-down account may do none of this. */
function activeOrDeactivated(ctx: PagesContext, did: string): Account {
  const a = account(ctx, did)
  if (a.takedownRef) throw new FormError(403, 'This account was taken down.')
  return a
}

async function checkPassword(ctx: PagesContext, limits: SettingsLimits, did: string, password: string): Promise<boolean> {
  if (!password) return false
  if (password.length > OLD_PASSWORD_MAX_LENGTH) return false
  limits.password(did)
  return ctx.s.sessions.verifyAccountPassword(did, password)
}

export interface SettingsRequest {
  did: string
  deviceId: string
  form: URLSearchParams
}

// One set of limits per mounted page set (tests mount several servers in one process).
const LIMITS = new WeakMap<PagesContext, SettingsLimits>()

function limitsFor(ctx: PagesContext): SettingsLimits {
  let limits = LIMITS.get(ctx)
  if (!limits) LIMITS.set(ctx, (limits = new SettingsLimits()))
  return limits
}

/**
 * Runs one settings action for a signed-in account; null when `action` is not one. An API
 * refusal (XrpcError below 500) becomes `{ kind: 'page', error }` in plain words.
 */
export async function runSettingsAction(ctx: PagesContext, action: string, r: SettingsRequest): Promise<SettingsOutcome | null> {
  // Own properties only: `constructor` or `hasOwnProperty` is not an action.
  if (!Object.hasOwn(ACTIONS, action)) return null
  const handler = ACTIONS[action] as Handler
  try {
    return await handler(ctx, { ...r, limits: limitsFor(ctx) })
  } catch (err) {
    if (err instanceof XrpcError && err.status < 500) return { kind: 'page', error: plainMessage(err), status: err.status }
    if (err instanceof AccountConflictError) return { kind: 'page', error: `That ${err.field === 'appPassword' ? 'app password name' : err.field} is already in use.`, status: 400 }
    throw err
  }
}

type Handler = (ctx: PagesContext, r: SettingsRequest & { limits: SettingsLimits }) => Promise<SettingsOutcome>

const field = (form: URLSearchParams, name: string) => (form.get(name) ?? '').trim()

const ACTIONS: Record<string, Handler> = {
  // com.atproto.server.createAppPassword (full sessions only: a page sign-in is one).
  'create-app-password': async (ctx, { did, form }) => {
    activeOrDeactivated(ctx, did)
    const name = field(form, 'name')
    if (!name) return { kind: 'page', error: 'Give the app password a name, so you know later which app uses it.', status: 400 }
    if (name.length > 100) return { kind: 'page', error: 'That name is too long (100 characters at most).', status: 400 }
    const privileged = form.get('privileged') === 'on'
    try {
      const created = await ctx.s.sessions.createAppPassword(did, name, privileged)
      return { kind: 'page', notice: `App password “${created.name}” created.`, created: { name: created.name, password: created.password } }
    } catch (err) {
      if (err instanceof AccountConflictError) return { kind: 'page', error: `You already have an app password named “${name}”. Choose another name.`, status: 400 }
      throw err
    }
  },
  // com.atproto.server.revokeAppPassword: its sessions end with it.
  'revoke-app-password': async (ctx, { did, form }) => {
    account(ctx, did)
    const name = form.get('name') ?? ''
    if (!ctx.s.accounts.revokeAppPassword(did, name)) {
      return { kind: 'page', error: `There is no app password named “${name}” (it may be revoked already).`, status: 400 }
    }
    return { kind: 'redirect', done: 'app-password-revoked' }
  },
  // As com.atproto.server.deleteSession, by the session's id: the session and its chain end.
  'revoke-password-session': async (ctx, { did, form }) => {
    account(ctx, did)
    if (!ctx.s.accounts.revokeRefreshToken(form.get('session_id') ?? '', did)) {
      return { kind: 'page', error: 'No such session (it may have ended already). Reload the page.', status: 400 }
    }
    return { kind: 'redirect', done: 'password-session-revoked' }
  },
  // The page's own: the current password proves it is the holder (as resetPassword's emailed
  // code does), then the same change as resetPassword and admin.updateAccountPassword.
  'change-password': async (ctx, { did, deviceId, form, limits }) => {
    activeOrDeactivated(ctx, did)
    const current = form.get('current_password') ?? ''
    const next = form.get('new_password') ?? ''
    const again = form.get('new_password_again') ?? ''
    if (!next) return { kind: 'page', error: 'Enter a new password.', status: 400 }
    if (next !== again) return { kind: 'page', error: 'The two new passwords are not the same.', status: 400 }
    if (next.length > NEW_PASSWORD_MAX_LENGTH) return { kind: 'page', error: `The new password is too long (${NEW_PASSWORD_MAX_LENGTH} characters at most).`, status: 400 }
    if (!(await checkPassword(ctx, limits, did, current))) return { kind: 'page', error: 'Your current password is not right.', status: 401 }
    await ctx.s.sessions.setPassword(did, next)
    // The change signs the account out everywhere, this device too; it stays signed in here.
    ctx.devices.store.upsertDeviceAccount(deviceId, did)
    return { kind: 'redirect', done: 'password-changed' }
  },
  // com.atproto.server.requestEmailConfirmation
  'request-email-confirmation': async (ctx, { did, limits }) => {
    const a = activeOrDeactivated(ctx, did)
    if (!a.email) return { kind: 'page', error: 'This account has no email address.', status: 400 }
    if (a.emailConfirmedAt) return { kind: 'page', notice: 'Your email address is already confirmed.' }
    limits.email('request-email-confirmation', did)
    const token = ctx.s.accounts.createEmailToken(did, 'confirm_email')
    await ctx.s.mailer.sendConfirmEmail({ token, handle: a.handle }, { to: a.email })
    return { kind: 'page', notice: `We emailed a code to ${a.email}. Enter it below.` }
  },
  // com.atproto.server.confirmEmail
  'confirm-email': async (ctx, { did, form }) => {
    const a = activeOrDeactivated(ctx, did)
    if (!a.email) return { kind: 'page', error: 'This account has no email address.', status: 400 }
    const code = field(form, 'code')
    if (!code) return { kind: 'page', error: 'Enter the code from the email.', status: 400 }
    // A second submit of the same code: the first one did it.
    if (a.emailConfirmedAt) return { kind: 'page', notice: 'Your email address is already confirmed.' }
    ctx.s.accounts.confirmEmail(did, code)
    return { kind: 'redirect', done: 'email-confirmed' }
  },
  // com.atproto.server.requestEmailUpdate
  'request-email-update': async (ctx, { did, limits }) => {
    const a = activeOrDeactivated(ctx, did)
    if (!a.email) return { kind: 'page', error: 'This account has no email address.', status: 400 }
    if (!a.emailConfirmedAt) return { kind: 'page', notice: 'Your current address is not confirmed, so no code is needed: enter the new address below.' }
    limits.email('request-email-update', did)
    const token = ctx.s.accounts.createEmailToken(did, 'update_email')
    await ctx.s.mailer.sendUpdateEmail({ token, handle: a.handle }, { to: a.email })
    return { kind: 'page', notice: `We emailed a code to your current address, ${a.email}. Enter it below with the new address.` }
  },
  // com.atproto.server.updateEmail
  'update-email': async (ctx, { did, form }) => {
    const a = activeOrDeactivated(ctx, did)
    const email = field(form, 'email')
    if (!isSupportedEmail(email)) return { kind: 'page', error: UNSUPPORTED_EMAIL_MESSAGE, status: 400 }
    if (a.email === email.toLowerCase()) return { kind: 'page', notice: 'That is already your email address.' }
    if (a.emailConfirmedAt) {
      const code = field(form, 'code')
      if (!code) return { kind: 'page', error: 'Enter the code we emailed to your current address (ask for one first).', status: 400 }
      ctx.s.accounts.assertValidEmailToken(did, 'update_email', code)
    }
    try {
      ctx.s.accounts.updateEmail(did, email)
    } catch (err) {
      if (err instanceof AccountConflictError) return { kind: 'page', error: 'This email address is already used by another account. Use a different one.', status: 400 }
      throw err
    }
    return { kind: 'redirect', done: 'email-updated' }
  },
  // com.atproto.server.updateEmail with emailAuthFactor true: a confirmed address is enough.
  'enable-email-2fa': async (ctx, { did }) => {
    const a = activeOrDeactivated(ctx, did)
    if (ctx.s.accounts.getEmailAuthFactor(did)) return { kind: 'page', notice: 'Sign-in codes by email are already on.' }
    if (!a.email || !a.emailConfirmedAt || !ctx.s.accounts.enableEmailAuthFactor(did, a.email)) {
      return { kind: 'page', error: 'Confirm your email address first: the sign-in codes go to it.', status: 400 }
    }
    return { kind: 'redirect', done: 'email-2fa-on' }
  },
  // updateEmail with emailAuthFactor false: needs an update_email code, mailed when none is given.
  'disable-email-2fa': async (ctx, { did, form, limits }) => {
    const a = activeOrDeactivated(ctx, did)
    if (!ctx.s.accounts.getEmailAuthFactor(did)) return { kind: 'page', notice: 'Sign-in codes by email are already off.' }
    const code = field(form, 'code')
    if (!code) {
      limits.email('request-email-update', did)
      const token = ctx.s.accounts.createEmailToken(did, 'update_email')
      await ctx.s.mailer.sendUpdateEmail({ token, handle: a.handle }, { to: a.email! })
      return { kind: 'page', notice: `We emailed a code to ${a.email}. Enter it to turn sign-in codes off.`, awaitingCode: true }
    }
    ctx.s.accounts.disableEmailAuthFactor(did, code)
    return { kind: 'redirect', done: 'email-2fa-off' }
  },
  // com.atproto.identity.updateHandle: `name` under a service domain, or `handle` (own domain).
  'update-handle': async (ctx, { did, form, limits }) => {
    activeOrDeactivated(ctx, did)
    const handle = chosenHandle(ctx, form)
    if (!handle) return { kind: 'page', error: 'Enter the handle you want.', status: 400 }
    limits.handle(did)
    await updateAccountHandle(ctx.s, did, handle)
    return { kind: 'redirect', done: 'handle-updated' }
  },
  // The live check before an own-domain change: what the handle resolves to right now.
  'check-handle': async (ctx, { did, form, limits }) => {
    account(ctx, did)
    const raw = field(form, 'handle')
    if (!raw) return { kind: 'page', error: 'Enter the domain to check.', status: 400 }
    // The syntax and TLD rules updateHandle applies, so a domain that checks out can be used.
    const handle = normalizeHandleSyntax(raw)
    if (!isValidTld(handle)) throw new XrpcError(400, 'InvalidRequest', 'Handle TLD is invalid or disallowed')
    if (serviceDomainOf(ctx.s, handle) !== undefined) return { kind: 'page', notice: `${handle} is under this server’s domain: no DNS record is needed.` }
    limits.handleCheck(did)
    const resolvedTo = (await ctx.s.handleResolver.resolve(handle).catch(() => undefined)) ?? null
    return { kind: 'page', handleCheck: { handle, resolvedTo } }
  },
  // com.atproto.server.deactivateAccount, with the password as a second look.
  deactivate: async (ctx, { did, form, limits }) => {
    const a = account(ctx, did)
    if (a.deactivatedAt) return { kind: 'page', notice: 'This account is already deactivated.' }
    if (!(await checkPassword(ctx, limits, did, form.get('password') ?? ''))) return { kind: 'page', error: 'Your password is not right.', status: 401 }
    deactivateAccount(ctx.s, did, null)
    return { kind: 'redirect', done: 'deactivated' }
  },
  // com.atproto.server.activateAccount
  activate: async (ctx, { did }) => {
    const a = account(ctx, did)
    if (!a.deactivatedAt) return { kind: 'page', notice: 'This account is already active.' }
    await activateAccount(ctx.s, did)
    return { kind: 'redirect', done: 'activated' }
  },
  // com.atproto.server.requestAccountDelete
  'request-delete': async (ctx, { did, limits }) => {
    const a = activeOrDeactivated(ctx, did)
    if (!a.email) return { kind: 'page', error: 'This account has no email address to send the code to. Ask the operator to delete it.', status: 400 }
    limits.email('request-account-delete', did)
    const token = ctx.s.accounts.createEmailToken(did, 'delete_account')
    await ctx.s.mailer.sendAccountDelete({ token, handle: a.handle }, { to: a.email })
    return { kind: 'page', notice: `We emailed a deletion code to ${a.email}. Enter it below with your password.` }
  },
  // com.atproto.server.deleteAccount: the password and the emailed code.
  delete: async (ctx, { did, form, limits }) => {
    account(ctx, did)
    const code = field(form, 'code')
    if (!code) return { kind: 'page', error: 'Enter the code from the deletion email (ask for one first).', status: 400 }
    if (!(await checkPassword(ctx, limits, did, form.get('password') ?? ''))) return { kind: 'page', error: 'Your password is not right.', status: 401 }
    ctx.s.accounts.assertValidEmailToken(did, 'delete_account', code)
    await removeAccount(ctx.s, did)
    return { kind: 'redirect', done: 'deleted' }
  },
}

function chosenHandle(ctx: PagesContext, form: URLSearchParams): string {
  if (form.get('kind') === 'own') return field(form, 'handle')
  const name = field(form, 'name').replace(/^@/, '')
  if (!name) return ''
  const domains = ctx.s.config.identity.serviceHandleDomains
  const domain = domains.find((d) => d === form.get('domain')) ?? domains[0] ?? ''
  return `${name}${domain}`
}
