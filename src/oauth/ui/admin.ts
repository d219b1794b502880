// The operator dashboard, GET/POST /admin: signed in with PDS_ADMIN_PASSWORD through a form (a
// browser never sees a Basic-auth prompt), kept by an HttpOnly, SameSite=Strict cookie good for
// 12 hours in this process; every post CSRF-checked as the account pages; sign-in attempts and
// actions rate limited; never cached or framed (the pages' security headers). Each action is
// what its admin XRPC method does, through the same src/actions/ functions and stores.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, statfsSync, statSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { countAccounts, searchAccounts, signupsPerDay } from '../../account/search.ts'
import { eventsPerHour } from '../../sequencer/activity.ts'
import { actorUsage } from '../../actor/usage.ts'
import { setAccountModeration } from '../../actions/account-state.ts'
import { removeAccount } from '../../actions/delete-account.ts'
import { metricsSampler, readFigures } from '../../metrics/history.ts'
import type { CoreServices } from '../../core-services.ts'
import { XrpcError } from '../../errors.ts'
import { MemoryRateLimiter } from '../../xrpc/rate-limiter.ts'
import type { RouteContext, XrpcServer } from '../../xrpc/server.ts'
import { parseCookies, setCookie } from '../device/cookies.ts'
import { DeviceManager } from '../device/manager.ts'
import { DeviceStore } from '../device/store.ts'
import { type AdminView, dashboardPage, signInPage } from './admin-page.ts'
import { backupProgressPage, type Backups, backupsView, createBackups } from './admin-backups.ts'
import { AUTHENTICATION_MAX_AGE_MS, runPage } from './context.ts'
import { csrfToken, FormError, readPostedForm } from './forms.ts'
import { sendErrorPage, sendRedirect } from './html.ts'

export type AdminPagesServices = Pick<
  CoreServices,
  'accounts' | 'actors' | 'blobs' | 'config' | 'firehose' | 'logger' | 'mailer' | 'sequencer' | 'sessions'
>

export interface AdminPagesOptions {
  /** The health check /xrpc/_health runs; throws when the server is unhealthy. */
  check(): void
  /** Sign-in attempts per address per 5 minutes (10). */
  signInLimit?: number
}

const COOKIE = 'hearth-admin'
const SESSION_MS = 12 * 60 * 60_000
const TOKEN_RE = /^[0-9a-f]{64}$/
const MAX_INVITES = 100

interface AdminCtx {
  s: AdminPagesServices
  opts: AdminPagesOptions
  secure: boolean
  origin: string
  sessions: Map<string, number>
  signInLimit: MemoryRateLimiter
  actionLimit: MemoryRateLimiter
  backupLimit: MemoryRateLimiter
  backups: Backups
  /** This browser's device (read only), for sign-in with an operator account. */
  devices: DeviceManager
  startedAt: number
}

export function mountAdminPages(xrpc: XrpcServer, s: AdminPagesServices, opts: AdminPagesOptions): { close(): Promise<void> } {
  const issuer = new URL(s.config.oauth.issuer)
  const ctx: AdminCtx = {
    s,
    opts,
    secure: issuer.protocol === 'https:',
    origin: issuer.origin,
    sessions: new Map(),
    signInLimit: new MemoryRateLimiter('admin-page-sign-in-5m', 5 * 60_000, opts.signInLimit ?? 10),
    actionLimit: new MemoryRateLimiter('admin-page-actions-1m', 60_000, 120),
    // Each backup copies the whole data directory: a few an hour is plenty.
    backupLimit: new MemoryRateLimiter('admin-page-backups-1h', 60 * 60_000, 6),
    backups: createBackups(s),
    devices: new DeviceManager(new DeviceStore(s.accounts.db), { secure: issuer.protocol === 'https:' }),
    startedAt: Date.now(),
  }
  // Sampling starts with the server, so the charts have history by the time an operator looks.
  metricsSampler()
  xrpc.addRoute('GET', '/admin', adminGet(ctx), { cors: false })
  xrpc.addRoute('POST', '/admin', adminPost(ctx), { cors: false })
  xrpc.addRoute('GET', '/admin/backup', backupGet(ctx), { cors: false })
  // A backup in progress at shutdown is stopped (noted as failed; its copy has no manifest).
  return { close: async () => ctx.backups.runner?.close() }
}

function digest(v: string): Buffer {
  return createHash('sha256').update(v).digest()
}

function session(ctx: AdminCtx, req: IncomingMessage): string | null {
  const token = parseCookies(req).get(COOKIE)
  if (!token || !TOKEN_RE.test(token)) return null
  const exp = ctx.sessions.get(token)
  if (exp === undefined || exp <= Date.now()) {
    ctx.sessions.delete(token)
    return null
  }
  return token
}

/**
 * The operator accounts (HEARTH_ADMIN_DIDS) signed in on this browser at /account within the
 * sign-in age the account page uses (so with its second factor, if on), active ones only.
 */
function operatorAccounts(ctx: AdminCtx, req: IncomingMessage): Array<{ did: string; handle: string | null }> {
  const listed = ctx.s.config.hearth.adminDids
  if (listed.length === 0) return []
  const deviceId = ctx.devices.peek(req)
  if (!deviceId) return []
  const now = Date.now()
  return ctx.devices.store
    .listDeviceAccounts(deviceId)
    .filter((a) => listed.includes(a.did) && now - Date.parse(a.updatedAt) <= AUTHENTICATION_MAX_AGE_MS)
    .flatMap((a) => {
      const account = ctx.s.accounts.getAccount(a.did)
      return account ? [{ did: a.did, handle: account.handle }] : []
    })
}

function showSignIn(ctx: AdminCtx, req: IncomingMessage, res: ServerResponse, csrf: string, o: { error?: string; status?: number } = {}): void {
  signInPage(res, csrf, {
    ...o,
    passwordSet: !!ctx.s.config.secrets.adminPassword,
    accountsAllowed: ctx.s.config.hearth.adminDids.length > 0,
    operators: operatorAccounts(ctx, req),
  })
}

function guard(ctx: AdminCtx, req: IncomingMessage, res: ServerResponse, fn: () => Promise<void>): Promise<void> {
  return runPage(req, res, { secure: ctx.secure, logger: ctx.s.logger, failure: 'admin page failed', brand: ctx.s.config.oauth.branding }, fn)
}

function adminGet(ctx: AdminCtx) {
  return ({ req, res, searchParams }: RouteContext) =>
    guard(ctx, req, res, async () => {
      const dest = req.headers['sec-fetch-dest']
      if (typeof dest === 'string' && dest !== 'document') throw new FormError(403, 'This page cannot be embedded.')
      const csrf = csrfToken(req, res, ctx.secure)
      if (!session(ctx, req)) return showSignIn(ctx, req, res, csrf)
      const done = searchParams.get('done') ?? ''
      await render(ctx, res, csrf, { query: searchParams.get('q') ?? '', notice: Object.hasOwn(NOTICES, done) ? NOTICES[done] : undefined })
    })
}

const NOTICES: Record<string, string> = {
  'taken-down': 'Account taken down.',
  'untaken-down': 'Takedown lifted.',
  deleted: 'Account deleted.',
  'confirmation-sent': 'Confirmation email sent.',
  'invite-disabled': 'Invite code disabled.',
  'signed-out': 'Signed out.',
}

function backupGet(ctx: AdminCtx) {
  return ({ req, res }: RouteContext) =>
    guard(ctx, req, res, async () => {
      const dest = req.headers['sec-fetch-dest']
      if (typeof dest === 'string' && dest !== 'document') throw new FormError(403, 'This page cannot be embedded.')
      if (!session(ctx, req)) return sendRedirect(res, '/admin')
      backupProgressPage(res, ctx.s.config.service.name, backupsView(ctx.backups))
    })
}

function adminPost(ctx: AdminCtx) {
  return ({ req, res, ip }: RouteContext) =>
    guard(ctx, req, res, async () => {
      const form = await readPostedForm(req, ctx.origin)
      const csrf = csrfToken(req, res, ctx.secure)
      const action = form.get('action') ?? ''
      if (action === 'sign-in' || action === 'sign-in-account') {
        if (ctx.signInLimit.consume(ip, 1).exceeded) {
          return showSignIn(ctx, req, res, csrf, { error: 'Too many attempts. Wait a few minutes and try again.', status: 429 })
        }
        if (action === 'sign-in') {
          const configured = ctx.s.config.secrets.adminPassword
          if (!configured) return showSignIn(ctx, req, res, csrf, { error: 'No admin password is set (PDS_ADMIN_PASSWORD).', status: 403 })
          if (!timingSafeEqual(digest(form.get('password') ?? ''), digest(configured))) {
            return showSignIn(ctx, req, res, csrf, { error: 'Wrong admin password.', status: 401 })
          }
        } else {
          const did = form.get('did') ?? ''
          if (!ctx.s.config.hearth.adminDids.includes(did)) {
            return showSignIn(ctx, req, res, csrf, { error: 'That account is not an operator account of this server (HEARTH_ADMIN_DIDS).', status: 403 })
          }
          if (!operatorAccounts(ctx, req).some((a) => a.did === did)) {
            return showSignIn(ctx, req, res, csrf, { error: 'Sign in to that account at /account on this browser first (or again: the sign-in is older than 7 days, or the account is not active).', status: 403 })
          }
        }
        const token = randomBytes(32).toString('hex')
        const now = Date.now()
        for (const [t, exp] of ctx.sessions) if (exp <= now) ctx.sessions.delete(t)
        ctx.sessions.set(token, now + SESSION_MS)
        setCookie(res, COOKIE, token, { secure: ctx.secure, httpOnly: true, sameSite: 'Strict', maxAge: SESSION_MS / 1000, path: '/admin' })
        return sendRedirect(res, '/admin')
      }
      const token = session(ctx, req)
      if (!token) return showSignIn(ctx, req, res, csrf, { error: 'Your admin session ended. Sign in again.', status: 401 })
      if (ctx.actionLimit.consume(token, 1).exceeded) throw new FormError(429, 'Too many actions. Wait a minute and try again.')
      if (action === 'sign-out') {
        ctx.sessions.delete(token)
        setCookie(res, COOKIE, '', { secure: ctx.secure, httpOnly: true, sameSite: 'Strict', maxAge: 0, path: '/admin' })
        return sendRedirect(res, '/admin')
      }
      const query = form.get('q') ?? ''
      if (action === 'start-backup') {
        const runner = ctx.backups.runner
        if (!runner) return render(ctx, res, csrf, { query, error: ctx.backups.problem ?? 'Backups cannot be started here.', status: 409 })
        // A second press while one runs: say so (and do not spend the limit on it).
        if (runner.running) return render(ctx, res, csrf, { query, error: 'A backup is already running: wait for it to finish (its progress is below).', status: 409 })
        if (ctx.backupLimit.consume('dashboard', 1).exceeded) {
          return render(ctx, res, csrf, { query, error: 'Too many backups started in the last hour. Wait a while, or run hearth backup on the server.', status: 429 })
        }
        const started = runner.start()
        if (!started.ok) return render(ctx, res, csrf, { query, error: started.reason, status: 409 })
        return sendRedirect(res, '/admin/backup')
      }
      try {
        const outcome = await runAction(ctx, action, form)
        if (outcome.redirect) return sendRedirect(res, `/admin?done=${outcome.redirect}${query ? `&q=${encodeURIComponent(query)}` : ''}`)
        await render(ctx, res, csrf, { query, ...outcome.view })
      } catch (err) {
        if (err instanceof XrpcError && err.status < 500) return render(ctx, res, csrf, { query, error: err.message, status: 400 })
        throw err
      }
    })
}

type Outcome = { redirect: string; view?: undefined } | { redirect?: undefined; view: Partial<AdminView> }

function requireAccount(ctx: AdminCtx, did: string) {
  const a = ctx.s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
  if (!a) throw new FormError(400, `No account ${did} on this server (it may have been deleted already).`)
  return a
}

async function runAction(ctx: AdminCtx, action: string, form: URLSearchParams): Promise<Outcome> {
  const did = form.get('did') ?? ''
  switch (action) {
    // admin.updateSubjectStatus (repoRef, takedown applied): the reason is the takedown's ref.
    case 'takedown': {
      const a = requireAccount(ctx, did)
      const reason = (form.get('reason') ?? '').trim()
      if (!reason) return { view: { error: 'Write the reason for the takedown: you will read it here later.', status: 400 } }
      if (reason.length > 500) return { view: { error: 'Keep the reason under 500 characters.', status: 400 } }
      if (a.takedownRef) return { view: { notice: `${a.handle ?? did} is already taken down (${a.takedownRef}).` } }
      setAccountModeration(ctx.s, did, { takedown: { applied: true, ref: reason } })
      return { redirect: 'taken-down' }
    }
    case 'untakedown': {
      const a = requireAccount(ctx, did)
      if (!a.takedownRef) return { view: { notice: `${a.handle ?? did} is not taken down.` } }
      setAccountModeration(ctx.s, did, { takedown: { applied: false } })
      return { redirect: 'untaken-down' }
    }
    // admin.updateAccountPassword, with a password made here and shown once.
    case 'reset-password': {
      const a = requireAccount(ctx, did)
      const password = randomBytes(12).toString('base64url')
      await ctx.s.sessions.setPassword(did, password)
      return { view: { notice: `New password for ${a.handle ?? did} (shown once; every session of the account was ended):`, secret: password } }
    }
    // admin.deleteAccount, once the operator has typed the handle (or DID) again.
    case 'delete-account': {
      const a = requireAccount(ctx, did)
      const typed = (form.get('confirm') ?? '').trim().toLowerCase()
      if (typed !== did.toLowerCase() && typed !== (a.handle ?? '').toLowerCase()) {
        return { view: { error: `To delete ${a.handle ?? did}, type its handle in the confirmation box.`, status: 400 } }
      }
      await removeAccount(ctx.s, did)
      return { redirect: 'deleted' }
    }
    // As requestEmailConfirmation, on the account's behalf.
    case 'resend-confirmation': {
      const a = requireAccount(ctx, did)
      if (!a.email) return { view: { error: `${a.handle ?? did} has no email address.`, status: 400 } }
      if (a.emailConfirmedAt) return { view: { notice: `${a.email} is already confirmed.` } }
      const token = ctx.s.accounts.createEmailToken(did, 'confirm_email')
      await ctx.s.mailer.sendConfirmEmail({ token, handle: a.handle }, { to: a.email })
      return { redirect: 'confirmation-sent' }
    }
    // server.createInviteCodes for the operator ('admin').
    case 'create-invites': {
      const count = Number(form.get('count') ?? '1')
      const uses = Number(form.get('uses') ?? '1')
      if (!Number.isInteger(count) || count < 1 || count > MAX_INVITES) return { view: { error: `Make between 1 and ${MAX_INVITES} codes at a time.`, status: 400 } }
      if (!Number.isInteger(uses) || uses < 1 || uses > 1000) return { view: { error: 'Each code can be used between 1 and 1000 times.', status: 400 } }
      const codes = ctx.s.accounts.generateInviteCodes(count)
      ctx.s.accounts.createInviteCodes([{ account: 'admin', codes }], uses)
      return { view: { notice: `Created ${count} invite code${count === 1 ? '' : 's'}: ${codes.join(', ')}` } }
    }
    // admin.disableInviteCodes
    case 'disable-invite': {
      const code = form.get('code') ?? ''
      const listed = ctx.s.accounts.listInviteCodes({ limit: 1000 }).codes.find((c) => c.code === code)
      if (!listed) return { view: { error: 'No such invite code.', status: 400 } }
      if (listed.disabled) return { view: { notice: `${code} is already disabled.` } }
      ctx.s.accounts.disableInviteCodes({ codes: [code] })
      return { redirect: 'invite-disabled' }
    }
    default:
      throw new FormError(400, 'Unknown action.')
  }
}

async function render(ctx: AdminCtx, res: ServerResponse, csrf: string, view: Partial<AdminView> & { query: string }): Promise<void> {
  const s = ctx.s
  let health: string | null = null
  try {
    ctx.opts.check()
  } catch (err) {
    health = err instanceof Error ? err.message : String(err)
  }
  const day = new Date(Date.now() - 24 * 60 * 60_000).toISOString()
  const sampler = metricsSampler()
  const now = await readFigures()
  dashboardPage(res, csrf, {
    ...view,
    serviceName: s.config.service.name,
    version: s.config.service.version,
    health,
    uptimeMs: Date.now() - ctx.startedAt,
    accounts: searchAccounts(s.accounts.db, view.query, 50).map((a) => ({ ...a, repoBytes: repoBytes(s, a.did), blobBytes: blobBytes(s, a.did) })),
    counts: countAccounts(s.accounts.db, day),
    invites: s.accounts.listInviteCodes({ limit: 50 }).codes,
    storage: storage(s),
    firehoseSubscribers: s.firehose.subscriberCount,
    lastSeq: s.sequencer.lastSeq(),
    activity: {
      now,
      samples: sampler.samples(),
      intervalMs: sampler.intervalMs,
      commitsPerHour: eventsPerHour(s.sequencer.db, 'append', 24),
      signupsPerDay: signupsPerDay(s.accounts.db, 14),
    },
    backups: backupsView(ctx.backups),
  })
}

function fileBytes(path: string): number {
  let total = 0
  for (const p of [path, `${path}-wal`]) if (existsSync(p)) total += statSync(p).size
  return total
}

function repoBytes(s: AdminPagesServices, did: string): number {
  return fileBytes(s.actors.location(did).dbLocation)
}

/** The account's blob bytes (by its blob metadata), or null when it has no store here. */
function blobBytes(s: AdminPagesServices, did: string): number | null {
  const store = s.actors.get(did)
  return store ? actorUsage(store).blobBytes : null
}

function storage(s: AdminPagesServices): AdminView['storage'] {
  const c = s.config.db
  const dbs = [
    { name: 'Accounts (account.sqlite)', bytes: fileBytes(c.accountDbLocation) },
    { name: 'Event log (sequencer.sqlite)', bytes: fileBytes(c.sequencerDbLocation) },
    { name: 'DID cache', bytes: fileBytes(c.didCacheDbLocation) },
  ]
  const { free, size } = diskSpace(c.dataDirectory)
  const b = s.config.blobstore
  const blobStore: AdminView['storage']['blobStore'] =
    b.provider === 'disk'
      ? { kind: 'disk', location: b.location, ...diskSpace(b.location) }
      : { kind: 's3', bucket: b.bucket, endpoint: b.endpoint ?? null }
  return { dbs, dataDirectory: c.dataDirectory, free, size, blobStore }
}

function diskSpace(dir: string): { free: number | null; size: number | null } {
  try {
    const st = statfsSync(dir)
    return { free: st.bavail * st.bsize, size: st.blocks * st.bsize }
  } catch {
    // Not every platform answers statfs (and a blob folder may not exist yet); the page says "unknown".
    return { free: null, size: null }
  }
}
