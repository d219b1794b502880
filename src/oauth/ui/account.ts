// GET/POST /account: for each account remembered on this browser, the apps it has authorized or
// that hold a session (revoke one: its grant and every token at once), each OAuth session (revoke
// one token), and the devices where the account is signed in (sign one out); sign-in and
// sign-out. The HTML equivalent of the official /account page and its ~api/oauth-sessions,
// ~api/revoke-oauth-session, ~api/account-sessions and ~api/revoke-account-session endpoints;
// it only acts for accounts signed in on this device within the last 7 days (the official's
// revoke-account-session asks for no sign-in at all: here it does). Below those, each account's
// settings (account-settings.ts), whose actions account-actions.ts runs.
import type { ServerResponse } from 'node:http'
import type { RouteContext } from '../../xrpc/server.ts'
import { runSettingsAction, SETTINGS_NOTICES } from './account-actions.ts'
import { settingsSections, type SettingsView } from './account-settings.ts'
import { checkNavigation, deviceSessions, guard, type PagesContext, type SessionView } from './context.ts'
import { csrfToken, FormError, readPostedForm } from './forms.ts'
import { hidden, html, type Html, initials, sendPage, sendRedirect } from './html.ts'
import { describeScopes } from './scopes.ts'
import { listAppAccess, listOAuthSessions } from './sessions.ts'

export function accountGet(ctx: PagesContext) {
  return ({ req, res, ip, searchParams }: RouteContext) =>
    guard(ctx, res, req, async () => {
      checkNavigation(req)
      const { deviceId } = ctx.devices.load(req, res, ip)
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const done = searchParams.get('revoked') === '1' ? 'revoked' : (searchParams.get('done') ?? '')
      const notice = Object.hasOwn(NOTICES, done) ? (NOTICES[done] as string) : null
      accountPage(ctx, res, deviceId, csrf, { notice })
    })
}

export function accountPost(ctx: PagesContext) {
  return ({ req, res, ip }: RouteContext) =>
    guard(ctx, res, req, async () => {
      const form = await readPostedForm(req, ctx.issuerOrigin)
      const action = form.get('action')
      const { deviceId } = ctx.devices.load(req, res, ip, action === 'sign-in')
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const did = form.get('did') ?? ''
      switch (action) {
        case 'sign-in': {
          const identifier = form.get('identifier') ?? ''
          const result = await ctx.signIn.check(identifier, form.get('password') ?? '', ip, deviceId)
          if (!result.ok && result.factor) return signInCodePage(res, csrf, { did: result.factor.did, notice: result.message })
          if (!result.ok) {
            return accountPage(ctx, res, deviceId, csrf, { error: result.message, status: result.status, identifier })
          }
          ctx.devices.store.upsertDeviceAccount(deviceId, result.account.did)
          return sendRedirect(res, '/account')
        }
        case 'sign-in-code': {
          // The second step for an account with sign-in codes by email on (SignInChecker.checkCode).
          const result = await ctx.signIn.checkCode(deviceId, did, form.get('code') ?? '', ip)
          if (!result.ok) {
            if (result.restart) return accountPage(ctx, res, deviceId, csrf, { error: result.message, status: result.status })
            return signInCodePage(res, csrf, { did, error: result.message, status: result.status })
          }
          ctx.devices.store.upsertDeviceAccount(deviceId, result.account.did)
          return sendRedirect(res, '/account')
        }
        case 'sign-out':
          ctx.devices.store.removeDeviceAccount(deviceId, did)
          return sendRedirect(res, '/account')
        case 'revoke': {
          requireSignedIn(ctx, deviceId, did)
          const clientId = form.get('client_id')
          if (!clientId) throw new FormError(400, 'The form is missing client_id.')
          ctx.provider.revokeAuthorizedClient(did, clientId)
          return sendRedirect(res, '/account?revoked=1')
        }
        case 'revoke-session': {
          requireSignedIn(ctx, deviceId, did)
          const tokenId = form.get('token_id') ?? ''
          // As official: another account's token is reported as not found.
          if (!ctx.provider.revokeSession(did, tokenId)) throw new FormError(400, 'No such session (it may have been refreshed or revoked already). Reload the page.')
          return sendRedirect(res, '/account?done=session-revoked')
        }
        case 'sign-out-device': {
          requireSignedIn(ctx, deviceId, did)
          const target = form.get('device_id') ?? ''
          if (!ctx.devices.store.listAccountDevices(did).some((d) => d.deviceId === target)) {
            throw new FormError(400, 'This account is not signed in on that device.')
          }
          ctx.devices.store.removeDeviceAccount(target, did)
          return sendRedirect(res, target === deviceId ? '/account' : '/account?done=device-signed-out')
        }
        default: {
          requireSignedIn(ctx, deviceId, did)
          const outcome = await runSettingsAction(ctx, action ?? '', { did, deviceId, form })
          if (!outcome) throw new FormError(400, 'Unknown action.')
          if (outcome.kind === 'redirect') return sendRedirect(res, `/account?done=${outcome.done}`)
          const { kind: _, status, ...view } = outcome
          return accountPage(ctx, res, deviceId, csrf, { status, settings: { did, view: { action: action ?? '', ...view } } })
        }
      }
    })
}

const NOTICES: Record<string, string> = {
  revoked: 'Access revoked.',
  'session-revoked': 'Session revoked.',
  'device-signed-out': 'Signed out of that device.',
  ...SETTINGS_NOTICES,
}

interface AccountPageOptions {
  error?: string
  status?: number
  identifier?: string
  notice?: string | null
  /** What a settings action left to show in one account's section. */
  settings?: { did: string; view: SettingsView }
}

function requireSignedIn(ctx: PagesContext, deviceId: string, did: string): void {
  if (!deviceSessions(ctx, deviceId).some((x) => x.did === did && !x.loginRequired)) {
    throw new FormError(403, 'Sign in to this account on this device first.')
  }
}

function accountPage(ctx: PagesContext, res: ServerResponse, deviceId: string, csrf: string, o: AccountPageOptions): void {
  const sessions = deviceSessions(ctx, deviceId).filter((x) => !x.loginRequired)
  const signIn = signInForm(csrf, o)
  sendPage(res, {
    title: 'Your accounts',
    status: o.status ?? 200,
    body: html`<h1>Your accounts</h1>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${sessions.map((sess) => accountSection(ctx, csrf, sess, deviceId, o.settings?.did === sess.did ? o.settings.view : {}))}
${sessions.length === 0 ? html`<p>Sign in to see and manage the apps you have authorized.</p>${signIn}` : html`<details${o.error ? html` open` : ''}><summary>Sign in with another account</summary>${signIn}</details>`}`,
  })
}

function hostOf(clientId: string): string {
  try {
    return new URL(clientId).host || clientId
  } catch {
    return clientId
  }
}

const day = (iso: string) => iso.slice(0, 10)
const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ') + ' UTC'

function accountSection(ctx: PagesContext, csrf: string, sess: SessionView, currentDeviceId: string, settings: SettingsView): Html {
  const label = sess.handle ? `@${sess.handle}` : sess.did
  const clients = listAppAccess(ctx.provider, ctx.tokens, sess.did)
  const account = ctx.s.accounts.getAccount(sess.did, { includeDeactivated: true, includeTakenDown: true })
  const form = (fields: Html, button: Html) =>
    html`<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', sess.did)}${fields}${button}</form>`
  const items = clients.map((c) => {
    const host = hostOf(c.clientId)
    const perms = describeScopes(c.scope, { blobLimit: ctx.s.config.service.blobUploadLimit })
    const named = c.clientName !== null && c.clientName !== host
    return html`<li class="account"><span class="grow"><strong>${c.clientName ?? host}</strong>${named ? html` <span class="muted">(${host})</span>` : ''}
<br><span class="muted">Authorized ${day(c.createdAt)}, last used ${day(c.updatedAt)}</span>
<details><summary>Permissions</summary><ul class="perms">${perms.map((p) => html`<li>${p}</li>`)}</ul></details></span>
${form(hidden('client_id', c.clientId), html`<button type="submit" class="secondary" name="action" value="revoke" aria-label="Revoke access of ${c.clientName ?? host}">Revoke</button>`)}</li>`
  })
  // As official, every token row is listed (one whose access token lapsed can still refresh).
  const oauthSessions = listOAuthSessions(ctx.tokens, sess.did, clients)
  const sessionItems = oauthSessions.map((t) => {
    const name = t.clientName ?? hostOf(t.clientId)
    return html`<li class="account"><span class="grow"><strong>${name}</strong>
<br><span class="muted">Signed in ${minute(t.createdAt)}, refreshed ${minute(t.updatedAt)}</span></span>
${form(hidden('token_id', t.tokenId), html`<button type="submit" class="secondary" name="action" value="revoke-session" aria-label="Revoke the session of ${name} from ${minute(t.createdAt)}">Revoke</button>`)}</li>`
  })
  const devices = ctx.devices.store.listAccountDevices(sess.did)
  const deviceItems = devices.map((d) => {
    const current = d.deviceId === currentDeviceId
    const what = d.userAgent ? describeUserAgent(d.userAgent) : 'Unknown browser'
    return html`<li class="account"><span class="grow"><strong>${what}</strong>${current ? html` <span class="muted">(this device)</span>` : ''}
<br><span class="muted">${d.ipAddress}, last seen ${minute(d.lastSeenAt)}</span></span>
${form(hidden('device_id', d.deviceId), html`<button type="submit" class="secondary" name="action" value="sign-out-device" aria-label="Sign ${label} out of ${what}${current ? ' (this device)' : ''}">Sign out</button>`)}</li>`
  })
  return html`<section aria-label="${label}">
<h2><span class="initials" aria-hidden="true">${initials(sess.handle, sess.did)}</span> ${label}</h2>
${account ? settingsSections(ctx, csrf, account, settings) : ''}
<h3>Apps</h3>
${clients.length > 0 ? html`<ul class="plain">${items}</ul>` : html`<p class="muted">No authorized apps.</p>`}
<h3>App sessions</h3>
${oauthSessions.length > 0 ? html`<ul class="plain" aria-label="App sessions">${sessionItems}</ul>` : html`<p class="muted">No app sessions.</p>`}
<h3>Signed in on</h3>
<ul class="plain" aria-label="Devices">${deviceItems}</ul>
${form(html``, html`<button type="submit" class="link" name="action" value="sign-out">Sign out ${label} on this device</button>`)}
</section>`
}

/** A short, readable name for a browser from its user agent (just for display). */
function describeUserAgent(ua: string): string {
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : null
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : null
  if (browser && os) return `${browser} on ${os}`
  return browser ?? os ?? ua.slice(0, 60)
}

/** The second sign-in step of an account with sign-in codes by email on. */
function signInCodePage(res: ServerResponse, csrf: string, o: { did: string; notice?: string; error?: string; status?: number }): void {
  sendPage(res, {
    title: 'Enter your sign-in code',
    status: o.status ?? 200,
    body: html`<h1>Enter your sign-in code</h1>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${o.error ? html`<p class="error" role="alert" id="code-error">${o.error}</p>` : ''}
<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', o.did)}
<label for="code">Code from the email</label>
<input type="text" id="code" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required autofocus${o.error ? html` aria-describedby="code-error"` : ''}>
<p class="muted">The code is valid for 15 minutes and works once.</p>
<div class="actions"><button type="submit" name="action" value="sign-in-code">Sign in</button></div>
</form>
<p><a href="/account">Start again</a></p>`,
  })
}

function signInForm(csrf: string, o: AccountPageOptions): Html {
  return html`${o.error ? html`<p class="error" role="alert" id="sign-in-error">${o.error}</p>` : ''}
<form method="post" action="/account">
${hidden('csrf', csrf)}
<label for="identifier">Handle, email or DID</label>
<input type="text" id="identifier" name="identifier" value="${o.identifier ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" required${o.error ? html` aria-describedby="sign-in-error"` : ''}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="actions"><button type="submit" name="action" value="sign-in">Sign in</button></div>
</form>`
}
