// The home page for browsers (GET / with Accept: text/html; other clients get the plain-text
// banner) and its one tool: moving an account in from another PDS (src/actions/move-in.ts).
// The browser holding a move is known by a random key in the `hearth-move` cookie; the page
// shows each step of that move, refreshes itself (the Refresh header: no script) while steps run
// on the server, asks for the emailed code when the old PDS has sent it, and offers to resume a
// stopped move (signing in again when the server no longer holds the sessions), and to cancel
// it until the DID names this server. A browser that lost its cookie resumes by sending the
// start form again for the same account.
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { MoveInRow, MoveInStep } from '../../account/move-in-store.ts'
import { MOVE_IN_STEPS } from '../../account/move-in-store.ts'
import { type MoveIn, MoveInError } from '../../actions/move-in.ts'
import type { RouteContext } from '../../xrpc/server.ts'
import { MemoryRateLimiter } from '../../xrpc/rate-limiter.ts'
import { parseCookies, setCookie } from '../device/cookies.ts'
import { checkNavigation, guard, type PagesContext } from './context.ts'
import { csrfToken, FormError, readPostedForm } from './forms.ts'
import { hidden, html, type Html, sendPage, sendRedirect } from './html.ts'

export const MOVE_COOKIE = 'hearth-move'
const MOVE_KEY_RE = /^[0-9a-f]{32}$/
/** Seconds between refreshes while steps run. */
const REFRESH_SECONDS = 1
/** How long a page waits for running steps to stop before it is drawn. */
const SETTLE_MS = 1500

interface HomeContext extends PagesContext {
  moveIn: MoveIn
  /** Start attempts per client address (each one is a password check on another server). */
  startLimit: MemoryRateLimiter
}

export function homeContext(ctx: PagesContext, moveIn: MoveIn): HomeContext {
  return { ...ctx, moveIn, startLimit: new MemoryRateLimiter('page-move-in-5m', 5 * 60_000, 20) }
}

function moveKey(req: RouteContext['req']): string | null {
  const key = parseCookies(req).get(MOVE_COOKIE)
  return key !== undefined && MOVE_KEY_RE.test(key) ? key : null
}

/** Kept across browser restarts, so that closing the tab does not lose the move's page. */
function setMoveCookie(ctx: HomeContext, res: ServerResponse, key: string): void {
  setCookie(res, MOVE_COOKIE, key, { secure: ctx.secureCookies, httpOnly: true, sameSite: 'Lax', maxAge: 30 * 24 * 60 * 60 })
}

export function homeGet(ctx: HomeContext) {
  return ({ req, res }: RouteContext) =>
    guard(ctx, res, req, async () => {
      checkNavigation(req)
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const key = moveKey(req)
      let row = key ? ctx.moveIn.store.getByBrowser(key) : null
      if (row?.state === 'running') {
        // Short steps finish before the page is drawn, sparing a refresh.
        await ctx.moveIn.idle(row.did, SETTLE_MS)
        row = ctx.moveIn.store.get(row.did) ?? row
      }
      if (row) return progressPage(ctx, res, csrf, row, {})
      // The key is given with the form, so that two clicks on its button name one move.
      setMoveCookie(ctx, res, key ?? randomBytes(16).toString('hex'))
      const cancelled = new URL(req.url ?? '/', 'http://x').searchParams.has('cancelled')
      homePage(ctx, res, csrf, cancelled ? { notice: 'The move was cancelled: the account created here is deleted, and your account on your old server is as it was.' } : {})
    })
}

export function homePost(ctx: HomeContext) {
  return ({ req, res, ip }: RouteContext) =>
    guard(ctx, res, req, async () => {
      const form = await readPostedForm(req, ctx.issuerOrigin)
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const action = form.get('action') ?? ''
      const field = (name: string) => form.get(name) ?? ''
      if (action === 'start') {
        const values = { identifier: field('identifier'), handle: field('handle'), email: field('email'), inviteCode: field('invite_code') }
        if (ctx.startLimit.consume(ip, 1).exceeded) {
          return homePage(ctx, res, csrf, { error: 'Too many attempts. Wait a few minutes and try again.', status: 429, values })
        }
        const key = moveKey(req) ?? randomBytes(16).toString('hex')
        try {
          await ctx.moveIn.begin(
            {
              ...values,
              oldPassword: field('old_password'),
              herePassword: field('here_password'),
              authFactorToken: field('auth_code'),
              clientIp: ip,
            },
            key,
          )
        } catch (err) {
          if (!(err instanceof MoveInError)) throw err
          return homePage(ctx, res, csrf, { error: err.message, status: 400, values })
        }
        setMoveCookie(ctx, res, key)
        return sendRedirect(res, '/')
      }
      if (action === 'forget') {
        setMoveCookie(ctx, res, randomBytes(16).toString('hex'))
        return sendRedirect(res, '/')
      }
      const key = moveKey(req)
      const row = key ? ctx.moveIn.store.getByBrowser(key) : null
      if (!key || !row) throw new FormError(400, 'This browser has no move under way. Start one from the home page.')
      try {
        switch (action) {
          case 'resume':
            if (ctx.startLimit.consume(ip, 1).exceeded) throw new MoveInError('Too many attempts. Wait a few minutes and try again.')
            await ctx.moveIn.resume(
              row.did,
              field('old_password') ? { oldPassword: field('old_password'), herePassword: field('here_password'), authFactorToken: field('auth_code'), clientIp: ip } : null,
            )
            break
          case 'code':
            await ctx.moveIn.submitCode(row.did, field('code'))
            break
          case 'cancel':
            await ctx.moveIn.cancel(row.did)
            return sendRedirect(res, '/?cancelled')
          case 'resend':
            await ctx.moveIn.resendCode(row.did)
            return progressPage(ctx, res, csrf, ctx.moveIn.store.get(row.did) ?? row, { notice: 'A new code is on its way to your email. It replaces the previous one.' })
          default:
            throw new FormError(400, 'Unknown action.')
        }
      } catch (err) {
        if (!(err instanceof MoveInError)) throw err
        return progressPage(ctx, res, csrf, ctx.moveIn.store.get(row.did) ?? row, { error: err.message, status: 400 })
      }
      return sendRedirect(res, '/')
    })
}

interface FormValues {
  identifier: string
  handle: string
  email: string
  inviteCode: string
}

function homePage(ctx: HomeContext, res: ServerResponse, csrf: string, o: { error?: string; notice?: string; status?: number; values?: FormValues }): void {
  const cfg = ctx.s.config
  const v = o.values ?? { identifier: '', handle: '', email: '', inviteCode: '' }
  const suffix = cfg.identity.serviceHandleDomains[0] ?? `.${cfg.service.hostname}`
  const errorRef = o.error ? html` aria-describedby="move-error"` : ''
  sendPage(res, {
    title: cfg.service.name,
    status: o.status ?? 200,
    body: html`<h1>${cfg.service.name}</h1>
<p>This is an AT Protocol Personal Data Server (PDS): it hosts accounts of the AT Protocol network (such as Bluesky). Apps reach it under <code>/xrpc/</code>.</p>
<p><a href="/account">Your account</a> — sign in to manage an account hosted here.</p>
<h2 id="move">Move your account here</h2>
<p>Bring an account from another PDS, keeping its identity (DID), posts, follows, images and settings. Your old server emails you a code to confirm the move; until the end, your account keeps working there.</p>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${o.error ? html`<p class="error" role="alert" id="move-error">${o.error}</p>` : ''}
<form method="post" action="/">
${hidden('csrf', csrf)}
<h3>On your old server</h3>
<label for="identifier">Handle or DID</label>
<input type="text" id="identifier" name="identifier" value="${v.identifier}" autocomplete="username" autocapitalize="none" spellcheck="false" required${errorRef}>
<label for="old_password">Password</label>
<input type="password" id="old_password" name="old_password" autocomplete="current-password" required>
<p class="muted">Your account password. With an app password, also choose a new password here below; most servers let only the account password confirm the move.</p>
<label for="auth_code">Sign-in code (only if your old server emails one)</label>
<input type="text" id="auth_code" name="auth_code" autocomplete="one-time-code" autocapitalize="none" spellcheck="false">
<h3>Here</h3>
<label for="handle">Handle</label>
<input type="text" id="handle" name="handle" value="${v.handle}" autocapitalize="none" spellcheck="false" required aria-describedby="handle-help">
<p class="muted" id="handle-help">For example <code>yourname${suffix}</code>, or your own domain if it already points to your account.</p>
<label for="email">Email</label>
<input type="email" id="email" name="email" value="${v.email}" autocomplete="email" required>
<label for="here_password">New password here (optional)</label>
<input type="password" id="here_password" name="here_password" autocomplete="new-password" aria-describedby="here-password-help">
<p class="muted" id="here-password-help">Leave empty to keep the password you typed above.</p>
${cfg.invites.required ? html`<label for="invite_code">Invite code</label><input type="text" id="invite_code" name="invite_code" value="${v.inviteCode}" autocapitalize="none" spellcheck="false" required>` : ''}
<div class="actions"><button type="submit" name="action" value="start">Move my account here</button></div>
</form>
<p class="muted">Leaving instead? Your account page explains how to move to another PDS and lets you download your repository.</p>`,
  })
}

const STEP_LABELS: Array<{ done: MoveInStep; label: string }> = [
  { done: 'started', label: 'Sign in to your old server' },
  { done: 'created', label: 'Create your account here (inactive until the end)' },
  { done: 'imported', label: 'Copy your repository (posts, follows, profile)' },
  { done: 'blobs', label: 'Copy your images and videos' },
  { done: 'preferences', label: 'Copy your preferences' },
  { done: 'code-sent', label: 'Your old server emails you a code' },
  { done: 'identity', label: 'Point your identity (DID) here, with the code' },
  { done: 'activated', label: 'Activate your account here' },
  { done: 'done', label: 'Deactivate your account on your old server' },
]

const index = (s: MoveInStep) => MOVE_IN_STEPS.indexOf(s)

function progressPage(ctx: HomeContext, res: ServerResponse, csrf: string, row: MoveInRow, o: { error?: string; notice?: string; status?: number }): void {
  const running = row.state === 'running' && ctx.moveIn.isRunning(row.did)
  const doneThrough = index(row.step)
  const items = STEP_LABELS.map((s, i) => {
    const finished = index(s.done) <= doneThrough
    const current = !finished && (i === 0 || index(STEP_LABELS[i - 1]!.done) <= doneThrough)
    const blobs = s.done === 'blobs' && row.blobsTotal > 0 ? html` <span class="muted">(${row.blobsDone} of ${row.blobsTotal})</span>` : ''
    const mark = finished ? 'done' : current ? (row.state === 'stopped' ? 'stopped' : running ? 'under way' : 'next') : 'to do'
    return html`<li data-step="${s.done}" data-state="${mark}"${current ? html` aria-current="step"` : ''}><span class="badge${finished ? ' ok' : ''}">${mark}</span> ${s.label}${blobs}</li>`
  })
  // While steps run on the server, the page reloads itself (no script needed).
  if (running) res.setHeader('Refresh', String(REFRESH_SECONDS))
  const forget = html`<form method="post" action="/">${hidden('csrf', csrf)}<button type="submit" class="link" name="action" value="forget">Move another account</button></form>`
  const creds = ctx.moveIn.hasCredentials(row.did)
  const passwords = html`<label for="old_password">Password on your old server</label>
<input type="password" id="old_password" name="old_password" autocomplete="current-password" required>
<label for="auth_code">Sign-in code (only if your old server emails one)</label>
<input type="text" id="auth_code" name="auth_code" autocomplete="one-time-code" autocapitalize="none" spellcheck="false">
<label for="here_password">Password here, if you chose a different one</label>
<input type="password" id="here_password" name="here_password" autocomplete="new-password">`
  let next: Html | string = ''
  if (row.state === 'done') {
    next = html`<p class="notice" role="status">Your account now lives here, and it is deactivated on your old server. Apps find it here by itself; sign out and in again where an app still points at the old one.</p>
<p><a href="/account">Go to your account</a></p>`
  } else if (running) {
    next = html`<p class="notice" role="status">Working… this page refreshes by itself. You may close it: the move goes on, and comes back here when you reopen this page.</p>
<p><a class="button secondary" href="/">Refresh now</a></p>`
  } else if (row.state === 'code' && creds) {
    next = html`<p class="notice" role="status">Your old server has emailed you a code (to the address it has for you). Enter it to point your identity here.</p>
<form method="post" action="/">${hidden('csrf', csrf)}
<label for="code">Code from the email</label>
<input type="text" id="code" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required${o.error ? html` aria-describedby="step-error"` : ''}>
<div class="actions"><button type="submit" name="action" value="code">Confirm the move</button></div></form>
<form method="post" action="/">${hidden('csrf', csrf)}<div class="actions"><button type="submit" class="secondary" name="action" value="resend">Send me a new code</button></div></form>`
  } else {
    const why = row.state === 'code' ? 'This server no longer holds your sessions (it restarted, or an hour passed). Sign in again to enter your code.' : 'The move is paused. Nothing is lost: it goes on from the last finished step.'
    next = creds
      ? html`<p>${why}</p>
<form method="post" action="/">${hidden('csrf', csrf)}<div class="actions"><button type="submit" name="action" value="resume">Try again</button></div></form>
<details><summary>Sign in again (for example with your account password instead of an app password)</summary>
<form method="post" action="/">${hidden('csrf', csrf)}${passwords}
<div class="actions"><button type="submit" name="action" value="resume">Sign in and continue</button></div></form></details>`
      : html`<p>${why}</p>
<form method="post" action="/">${hidden('csrf', csrf)}${passwords}
<div class="actions"><button type="submit" name="action" value="resume">Sign in and continue</button></div></form>`
  }
  // Until the DID names this server, the move can be given up (the page cannot know of an
  // operation submitted by another tool: the server checks the DID document again).
  const cancel =
    row.state !== 'done' && index(row.step) <= index('code-sent')
      ? html`<details><summary>Cancel this move</summary>
<p>Your account stays on your old server, as it is; the inactive copy made here is deleted, with its repository and images. You can start a new move later.</p>
<form method="post" action="/">${hidden('csrf', csrf)}<div class="actions"><button type="submit" class="danger" name="action" value="cancel">Cancel this move</button></div></form></details>`
      : ''
  sendPage(res, {
    title: 'Moving your account here',
    status: o.status ?? 200,
    body: html`<h1>Moving ${row.handle} here</h1>
<p class="muted">From <code>${row.oldPds}</code>, DID <code>${row.did}</code></p>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${o.error ? html`<p class="error" role="alert" id="step-error">${o.error}</p>` : row.error && row.state !== 'done' ? html`<p class="error" role="alert">${row.error}</p>` : ''}
<ol class="steps" aria-label="Steps">${items}</ol>
${next}
${cancel}
${forget}`,
  })
}
