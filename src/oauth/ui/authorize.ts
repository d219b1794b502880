// The authorization endpoint's pages: GET /oauth/authorize?client_id=…&request_uri=… shows the
// account chooser, the sign-in form or the consent page for a pushed authorization request (a
// request not pushed, in the query or as a JAR `request` object, is first stored for the device
// and redirected to its request_uri, as the official accepts those too);
// every button posts back to POST /oauth/authorize, so the whole flow works without
// JavaScript. prompt and login_hint are honoured as the official provider does:
// - none: no page at all; the remembered, fresh, already-consented account matching the hint
//   is authorized at once, else the client gets login_required, consent_required or
//   account_selection_required;
// - login: the password is asked even for a remembered account;
// - consent: the consent page is shown even when every scope was granted before;
// - select_account: the chooser is shown even when the hint names a remembered account (and
//   account_selection_required when there is none);
// - no prompt with a hint matching one fresh, consented account: authorized without a page.
import type { ServerResponse } from 'node:http'
import type { AccountRow } from '../../account/accounts.ts'
import type { RouteContext } from '../../xrpc/server.ts'
import { type AuthorizationRequestView, OAuthError } from '../provider.ts'
import { checkNavigation, deviceSessions, guard, type PagesContext, type SessionView } from './context.ts'
import { csrfToken, FormError, readPostedForm } from './forms.ts'
import { formTargetFor, hidden, html, type Html, initials, sendErrorPage, sendPage, sendRedirect } from './html.ts'
import { describeScopes } from './scopes.ts'

type Prompt = 'none' | 'login' | 'consent' | 'select_account' | 'create' | undefined

interface Req {
  view: AuthorizationRequestView
  deviceId: string
  csrf: string
  prompt: Prompt
  scope: string
  formTargets: string[]
}

export function authorizeGet(ctx: PagesContext) {
  return ({ req, res, searchParams, ip }: RouteContext) =>
    guard(ctx, res, req, async () => {
      checkNavigation(req)
      const clientId = searchParams.get('client_id')
      const requestUri = searchParams.get('request_uri')
      if (clientId && !requestUri && (searchParams.has('request') || searchParams.has('response_type'))) {
        // Not pushed: stored for this device (as official), then shown through its request_uri.
        const { deviceId } = ctx.devices.load(req, res, ip)
        const created = await ctx.provider.createRequestFromQuery(searchParams, deviceId)
        return sendRedirect(res, `/oauth/authorize?${new URLSearchParams({ client_id: clientId, request_uri: created })}`)
      }
      if (!clientId || !requestUri) {
        return sendErrorPage(res, 400, 'Invalid authorization request', 'The request is missing client_id or request_uri.')
      }
      const { deviceId } = ctx.devices.load(req, res, ip)
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const r = await loadRequest(ctx, res, clientId, requestUri, deviceId, csrf)
      if (!r) return
      const sessions = deviceSessions(ctx, deviceId, r.prompt === 'login')
      const matching = sessions.filter((sess) => matchesHint(r.view, sess))

      if (r.prompt === 'none') {
        if (matching.length > 1) return redirectError(ctx, res, r, 'account_selection_required')
        const only = matching[0]
        if (!only || only.loginRequired) return redirectError(ctx, res, r, 'login_required')
        if (!ctx.provider.isAlreadyAuthorized(only.did, r.view.clientId, r.scope)) {
          return redirectError(ctx, res, r, 'consent_required')
        }
        return accept(ctx, res, r, only.did)
      }
      if (r.prompt === 'select_account') {
        if (sessions.length === 0) return redirectError(ctx, res, r, 'account_selection_required')
        return chooserPage(ctx, res, r, sessions)
      }
      if (r.prompt === undefined && hasHint(r.view) && matching.length === 1) {
        const only = matching[0]!
        if (!only.loginRequired && ctx.provider.isAlreadyAuthorized(only.did, r.view.clientId, r.scope)) {
          return accept(ctx, res, r, only.did)
        }
      }
      if (r.prompt === 'login') {
        return signInPage(ctx, res, r, { identifier: hintIdentifier(r.view, sessions) })
      }
      if (hasHint(r.view)) {
        if (matching.length === 1) {
          const only = matching[0]!
          return only.loginRequired
            ? signInPage(ctx, res, r, { identifier: only.handle ?? only.did, fixed: true })
            : consentPage(ctx, res, r, only)
        }
        if (matching.length === 0) return signInPage(ctx, res, r, { identifier: hintIdentifier(r.view, sessions) })
      }
      if (sessions.length > 0) return chooserPage(ctx, res, r, sessions)
      return signInPage(ctx, res, r, {})
    })
}

export function authorizePost(ctx: PagesContext) {
  return ({ req, res, ip }: RouteContext) =>
    guard(ctx, res, req, async () => {
      const form = await readPostedForm(req, ctx.issuerOrigin)
      const clientId = form.get('client_id')
      const requestUri = form.get('request_uri')
      if (!clientId || !requestUri) throw new FormError(400, 'The form is missing client_id or request_uri.')
      const action = form.get('action')
      const { deviceId } = ctx.devices.load(req, res, ip, action === 'sign-in')
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const r = await loadRequest(ctx, res, clientId, requestUri, deviceId, csrf)
      if (!r) return
      const did = form.get('did') ?? ''

      switch (action) {
        case 'deny': {
          ctx.requestSignIns.delete(requestUri)
          const url = await ctx.provider.rejectAuthorization(requestUri)
          return finish(res, r, url)
        }
        case 'another':
          return signInPage(ctx, res, r, {})
        case 'forget': {
          ctx.devices.store.removeDeviceAccount(deviceId, did)
          const sessions = deviceSessions(ctx, deviceId, r.prompt === 'login')
          return sessions.length > 0 ? chooserPage(ctx, res, r, sessions) : signInPage(ctx, res, r, {})
        }
        case 'select': {
          const sess = deviceSessions(ctx, deviceId, r.prompt === 'login').find((x) => x.did === did)
          if (!sess) return signInPage(ctx, res, r, {})
          if (sess.loginRequired && !ctx.requestSignIns.has(requestUri, deviceId, did)) {
            return signInPage(ctx, res, r, { identifier: sess.handle ?? sess.did, fixed: true })
          }
          return proceed(ctx, res, r, sess)
        }
        case 'sign-in': {
          const identifier = form.get('identifier') ?? ''
          const result = await ctx.signIn.check(identifier, form.get('password') ?? '', ip, deviceId)
          if (!result.ok && result.factor) {
            return signInCodePage(res, r, { did: result.factor.did, remember: form.get('remember') === '1', notice: result.message })
          }
          if (!result.ok) {
            return signInPage(ctx, res, r, {
              identifier,
              fixed: form.get('fixed') === '1',
              error: result.message,
              status: result.status,
            })
          }
          return signedIn(ctx, res, r, result.account, form.get('remember') === '1')
        }
        case 'sign-in-code': {
          // The second step of an email two-factor sign-in (see SignInChecker.checkCode).
          const remember = form.get('remember') === '1'
          const result = await ctx.signIn.checkCode(deviceId, did, form.get('code') ?? '', ip)
          if (!result.ok) {
            // A step that can no longer finish (expired code or pending sign-in) starts over.
            if (result.restart) {
              return signInPage(ctx, res, r, { error: result.message, status: result.status })
            }
            return signInCodePage(res, r, { did, remember, error: result.message, status: result.status })
          }
          return signedIn(ctx, res, r, result.account, remember)
        }
        case 'accept': {
          if (!isAuthenticated(ctx, r, did)) {
            const sess = deviceSessions(ctx, deviceId).find((x) => x.did === did)
            return signInPage(ctx, res, r, {
              identifier: sess?.handle ?? '',
              error: 'Sign in again to continue.',
              status: 401,
            })
          }
          return accept(ctx, res, r, did)
        }
        default:
          throw new FormError(400, 'Unknown action.')
      }
    })
}

// ---------------------------------------------------------------------------------------------

async function loadRequest(
  ctx: PagesContext,
  res: ServerResponse,
  clientId: string,
  requestUri: string,
  deviceId: string,
  csrf: string,
): Promise<Req | null> {
  let view: AuthorizationRequestView
  try {
    view = await ctx.provider.loadAuthorizationRequest(clientId, requestUri, deviceId)
  } catch (err) {
    if (err instanceof OAuthError) {
      sendErrorPage(res, err.status >= 400 && err.status < 600 ? err.status : 400, 'Authorization failed', `${err.error}: ${err.description}`)
      return null
    }
    throw err
  }
  return {
    view,
    deviceId,
    csrf,
    prompt: view.parameters.prompt as Prompt,
    scope: view.parameters.scope ?? '',
    formTargets: formTargetFor(view.parameters.redirect_uri ?? view.clientMetadata.redirect_uris?.[0]),
  }
}

function hasHint(view: AuthorizationRequestView): boolean {
  return !!(view.loginHint || view.parameters.login_hint)
}

function matchesHint(view: AuthorizationRequestView, sess: SessionView): boolean {
  const hints = [view.loginHint, view.parameters.login_hint].filter((h): h is string => !!h).map((h) => h.toLowerCase())
  if (hints.length === 0) return true
  return hints.some((h) => h === sess.did || (sess.handle !== null && h === sess.handle.toLowerCase()))
}

function hintIdentifier(view: AuthorizationRequestView, sessions: SessionView[]): string {
  const match = sessions.find((x) => matchesHint(view, x))
  if (match && hasHint(view)) return match.handle ?? match.did
  return view.parameters.login_hint ?? view.loginHint ?? ''
}

function isAuthenticated(ctx: PagesContext, r: Req, did: string): boolean {
  if (!did) return false
  if (ctx.requestSignIns.has(r.view.requestUri, r.deviceId, did)) return true
  if (r.prompt === 'login') return false
  const sess = deviceSessions(ctx, r.deviceId).find((x) => x.did === did)
  return sess !== undefined && !sess.loginRequired
}

/** A sign-in finished (password, and code when the account asks for one): remember it as asked, then on. */
async function signedIn(ctx: PagesContext, res: ServerResponse, r: Req, account: AccountRow, remember: boolean): Promise<void> {
  if (remember) ctx.devices.store.upsertDeviceAccount(r.deviceId, account.did)
  else ctx.devices.store.removeDeviceAccount(r.deviceId, account.did)
  ctx.requestSignIns.set(r.view.requestUri, r.deviceId, account.did, r.view.expiresAt)
  return proceed(ctx, res, r, {
    did: account.did,
    handle: account.handle,
    createdAt: '',
    updatedAt: new Date().toISOString(),
    deactivated: account.deactivatedAt !== null,
    loginRequired: false,
  })
}

async function proceed(ctx: PagesContext, res: ServerResponse, r: Req, sess: SessionView): Promise<void> {
  if (r.prompt !== 'consent' && ctx.provider.isAlreadyAuthorized(sess.did, r.view.clientId, r.scope)) {
    return accept(ctx, res, r, sess.did)
  }
  consentPage(ctx, res, r, sess)
}

async function accept(ctx: PagesContext, res: ServerResponse, r: Req, did: string): Promise<void> {
  const url = await ctx.provider.acceptAuthorization(r.view.requestUri, did, r.deviceId)
  ctx.requestSignIns.delete(r.view.requestUri)
  finish(res, r, url)
}

/** Ends the request with an OAuth error other than access_denied, on the client's redirect URI. */
async function redirectError(ctx: PagesContext, res: ServerResponse, r: Req, error: string): Promise<void> {
  const url = new URL(await ctx.provider.rejectAuthorization(r.view.requestUri))
  const inFragment = url.hash.length > 1 && !url.searchParams.has('error')
  const params = new URLSearchParams(inFragment ? url.hash.slice(1) : url.search)
  params.set('error', error)
  params.delete('error_description')
  if (inFragment) url.hash = params.toString()
  else url.search = params.toString()
  finish(res, r, url.href)
}

/**
 * Sends the browser back to the client: a 303 for response_mode query or fragment; for
 * form_post, a page whose form posts the response parameters to the redirect URI (submitted by
 * a one-line script when scripts run, by its button otherwise).
 */
function finish(res: ServerResponse, r: Req, location: string): void {
  const redirectUri = r.view.parameters.redirect_uri
  if (r.view.parameters.response_mode !== 'form_post' || !redirectUri) return sendRedirect(res, location, r.formTargets)
  const own = new URL(redirectUri).searchParams
  const fields = [...new URL(location).searchParams].filter(([k, v]) => own.get(k) !== v)
  sendPage(res, {
    title: 'Returning to the app',
    formTargets: r.formTargets,
    script: AUTO_SUBMIT,
    body: html`<h1>Returning to the app</h1>
<form method="post" action="${redirectUri}" id="form-post">
${fields.map(([k, v]) => hidden(k, v))}
<div class="actions"><button type="submit">Continue</button></div>
</form>`,
  })
}

const AUTO_SUBMIT = `document.getElementById('form-post').submit()`

// ---------------------------------------------------------------------------------------------
// Pages

function clientHost(clientId: string): string {
  try {
    return new URL(clientId).host || clientId
  } catch {
    return clientId
  }
}

function clientIntro(r: Req): Html {
  const host = clientHost(r.view.clientId)
  const name = r.view.clientMetadata.client_name
  return name
    ? html`<p><strong>${name}</strong> <span class="muted">(${host})</span> wants to access your account.</p>`
    : html`<p>The app at <strong>${host}</strong> wants to access your account.</p>`
}

function baseFields(r: Req): Html {
  return html`${hidden('csrf', r.csrf)}${hidden('client_id', r.view.clientId)}${hidden('request_uri', r.view.requestUri)}`
}

function denyForm(r: Req, label = 'Cancel'): Html {
  return html`<form method="post" action="/oauth/authorize">${baseFields(r)}<button type="submit" class="secondary" name="action" value="deny">${label}</button></form>`
}

function chooserPage(_ctx: PagesContext, res: ServerResponse, r: Req, sessions: SessionView[]): void {
  const items = sessions.map(
    (sess) => html`<li class="account">
<span class="initials" aria-hidden="true">${initials(sess.handle, sess.did)}</span>
<span class="grow">${sess.handle ? `@${sess.handle}` : sess.did}${sess.loginRequired ? html`<br><span class="muted">Password required</span>` : ''}</span>
<form method="post" action="/oauth/authorize">${baseFields(r)}${hidden('did', sess.did)}<button type="submit" name="action" value="select" aria-label="Continue as ${sess.handle ?? sess.did}">Continue</button></form>
<form method="post" action="/oauth/authorize">${baseFields(r)}${hidden('did', sess.did)}<button type="submit" class="link" name="action" value="forget" aria-label="Sign out ${sess.handle ?? sess.did} on this device">Sign out</button></form>
</li>`,
  )
  sendPage(res, {
    title: 'Choose an account',
    formTargets: r.formTargets,
    body: html`<h1>Choose an account</h1>
${clientIntro(r)}
<ul class="plain">${items}</ul>
<div class="actions">
<form method="post" action="/oauth/authorize">${baseFields(r)}<button type="submit" class="secondary" name="action" value="another">Use another account</button></form>
${denyForm(r)}
</div>`,
  })
}

interface SignInOptions {
  identifier?: string
  /** The identifier is the chosen remembered account's: shown, not editable. */
  fixed?: boolean
  error?: string
  status?: number
}

function signInPage(_ctx: PagesContext, res: ServerResponse, r: Req, o: SignInOptions): void {
  const identifier = o.identifier ?? ''
  sendPage(res, {
    title: 'Sign in',
    status: o.status ?? 200,
    formTargets: r.formTargets,
    body: html`<h1>Sign in</h1>
${clientIntro(r)}
${o.error ? html`<p class="error" role="alert" id="sign-in-error">${o.error}</p>` : ''}
<form method="post" action="/oauth/authorize">
${baseFields(r)}
${o.fixed ? hidden('fixed', '1') : ''}
<label for="identifier">Handle, email or DID</label>
<input type="text" id="identifier" name="identifier" value="${identifier}" autocomplete="username" autocapitalize="none" spellcheck="false" required${o.fixed ? html` readonly` : ''}${identifier ? '' : html` autofocus`}${o.error ? html` aria-describedby="sign-in-error"` : ''}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${identifier ? html` autofocus` : ''}>
<p class="check"><input type="checkbox" id="remember" name="remember" value="1" checked><label for="remember">Remember this account on this device</label></p>
<div class="actions"><button type="submit" name="action" value="sign-in">Sign in</button></div>
</form>
<div class="actions">${denyForm(r)}</div>`,
  })
}

interface SignInCodeOptions {
  did: string
  remember: boolean
  /** Where the code went (shown once, right after the password step). */
  notice?: string
  error?: string
  status?: number
}

/** The second sign-in step of an account with email two-factor sign-in on: the mailed code. */
function signInCodePage(res: ServerResponse, r: Req, o: SignInCodeOptions): void {
  sendPage(res, {
    title: 'Enter your sign-in code',
    status: o.status ?? 200,
    formTargets: r.formTargets,
    body: html`<h1>Enter your sign-in code</h1>
${clientIntro(r)}
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${o.error ? html`<p class="error" role="alert" id="sign-in-error">${o.error}</p>` : ''}
<form method="post" action="/oauth/authorize">
${baseFields(r)}
${hidden('did', o.did)}
${o.remember ? hidden('remember', '1') : ''}
<label for="code">Code from the email</label>
<input type="text" id="code" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required autofocus${o.error ? html` aria-describedby="sign-in-error"` : ''}>
<p class="muted">The code is valid for 15 minutes and works once.</p>
<div class="actions"><button type="submit" name="action" value="sign-in-code">Sign in</button></div>
</form>
<div class="actions">
<form method="post" action="/oauth/authorize">${baseFields(r)}<button type="submit" class="secondary" name="action" value="another">Start again</button></form>
${denyForm(r)}
</div>`,
  })
}

function consentPage(ctx: PagesContext, res: ServerResponse, r: Req, sess: SessionView): void {
  const perms = describeScopes(r.scope, { blobLimit: ctx.s.config.service.blobUploadLimit })
  const host = clientHost(r.view.clientId)
  const name = r.view.clientMetadata.client_name ?? host
  let redirectHost = ''
  try {
    redirectHost = new URL(r.view.parameters.redirect_uri ?? '').host
  } catch {
    // A private-use scheme redirect has no host to show.
  }
  sendPage(res, {
    title: 'Authorize app',
    formTargets: r.formTargets,
    body: html`<h1>Authorize ${name}</h1>
<p>Signed in as <strong>${sess.handle ? `@${sess.handle}` : sess.did}</strong>.</p>
${clientIntro(r)}
<h2 id="perms">It will be able to:</h2>
<ul class="perms" aria-labelledby="perms">${perms.map((p) => html`<li>${p}</li>`)}</ul>
${redirectHost ? html`<p class="muted">You will then be sent back to ${redirectHost}.</p>` : ''}
<div class="actions">
<form method="post" action="/oauth/authorize">${baseFields(r)}${hidden('did', sess.did)}<button type="submit" name="action" value="accept">Accept</button></form>
<form method="post" action="/oauth/authorize">${baseFields(r)}<button type="submit" class="secondary" name="action" value="deny">Deny</button></form>
</div>`,
  })
}

