// GET/POST /account: the apps each account remembered on this browser has authorized or that
// hold a session, with a button to revoke one (its grant and every token at once), sign-in and
// sign-out. The HTML
// equivalent of the official /account page and its ~api/oauth-sessions and
// ~api/revoke-oauth-session endpoints; like them, it only acts for accounts signed in on the
// device within the last 7 days.
import type { ServerResponse } from 'node:http'
import type { RouteContext } from '../../xrpc/server.ts'
import { checkNavigation, deviceSessions, guard, type PagesContext, type SessionView } from './context.ts'
import { checkCsrf, checkSameOrigin, csrfToken, FormError, readForm } from './forms.ts'
import { hidden, html, type Html, initials, sendPage, sendRedirect } from './html.ts'
import { describeScopes } from './scopes.ts'
import { listAppAccess } from './sessions.ts'

export function accountGet(ctx: PagesContext) {
  return ({ req, res, ip, searchParams }: RouteContext) =>
    guard(ctx, res, req, async () => {
      checkNavigation(req)
      const { deviceId } = ctx.devices.load(req, res, ip)
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const notice = searchParams.get('revoked') === '1' ? 'Access revoked.' : null
      accountPage(ctx, res, deviceId, csrf, { notice })
    })
}

export function accountPost(ctx: PagesContext) {
  return ({ req, res, ip }: RouteContext) =>
    guard(ctx, res, req, async () => {
      checkSameOrigin(req, ctx.issuerOrigin)
      const form = await readForm(req)
      checkCsrf(req, form)
      const action = form.get('action')
      const { deviceId } = ctx.devices.load(req, res, ip, action === 'sign-in')
      const csrf = csrfToken(req, res, ctx.secureCookies)
      const did = form.get('did') ?? ''
      switch (action) {
        case 'sign-in': {
          const identifier = form.get('identifier') ?? ''
          const result = await ctx.signIn.check(identifier, form.get('password') ?? '', ip)
          if (!result.ok) {
            return accountPage(ctx, res, deviceId, csrf, { error: result.message, status: result.status, identifier })
          }
          ctx.devices.store.upsertDeviceAccount(deviceId, result.account.did)
          return sendRedirect(res, '/account')
        }
        case 'sign-out':
          ctx.devices.store.removeDeviceAccount(deviceId, did)
          return sendRedirect(res, '/account')
        case 'revoke': {
          const sess = deviceSessions(ctx, deviceId).find((x) => x.did === did && !x.loginRequired)
          if (!sess) throw new FormError(403, 'Sign in to this account on this device first.')
          const clientId = form.get('client_id')
          if (!clientId) throw new FormError(400, 'The form is missing client_id.')
          ctx.provider.revokeAuthorizedClient(did, clientId)
          return sendRedirect(res, '/account?revoked=1')
        }
        default:
          throw new FormError(400, 'Unknown action.')
      }
    })
}

interface AccountPageOptions {
  error?: string
  status?: number
  identifier?: string
  notice?: string | null
}

function accountPage(ctx: PagesContext, res: ServerResponse, deviceId: string, csrf: string, o: AccountPageOptions): void {
  const sessions = deviceSessions(ctx, deviceId).filter((x) => !x.loginRequired)
  const signIn = signInForm(csrf, o)
  sendPage(res, {
    title: 'Your accounts',
    status: o.status ?? 200,
    body: html`<h1>Your accounts</h1>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${sessions.map((sess) => accountSection(ctx, csrf, sess))}
${sessions.length === 0 ? html`<p>Sign in to see and manage the apps you have authorized.</p>${signIn}` : html`<details${o.error ? html` open` : ''}><summary>Sign in with another account</summary>${signIn}</details>`}`,
  })
}

function accountSection(ctx: PagesContext, csrf: string, sess: SessionView): Html {
  const label = sess.handle ? `@${sess.handle}` : sess.did
  const clients = listAppAccess(ctx.s.accounts.db, ctx.provider, sess.did)
  const items = clients.map((c) => {
    let host = c.clientId
    try {
      host = new URL(c.clientId).host || c.clientId
    } catch {
      // Not a URL: shown as is.
    }
    const perms = describeScopes(c.scope, { blobLimit: ctx.s.config.service.blobUploadLimit })
    const named = c.clientName !== null && c.clientName !== host
    return html`<li class="account"><span class="grow"><strong>${c.clientName ?? host}</strong>${named ? html` <span class="muted">(${host})</span>` : ''}
<br><span class="muted">Authorized ${c.createdAt.slice(0, 10)}, last used ${c.updatedAt.slice(0, 10)}</span>
<details><summary>Permissions</summary><ul class="perms">${perms.map((p) => html`<li>${p}</li>`)}</ul></details></span>
<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', sess.did)}${hidden('client_id', c.clientId)}<button type="submit" class="secondary" name="action" value="revoke" aria-label="Revoke access of ${c.clientName ?? host}">Revoke</button></form></li>`
  })
  return html`<section aria-label="${label}">
<h2><span class="initials" aria-hidden="true">${initials(sess.handle, sess.did)}</span> ${label}</h2>
${clients.length > 0 ? html`<ul class="plain">${items}</ul>` : html`<p class="muted">No authorized apps.</p>`}
<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', sess.did)}<button type="submit" class="link" name="action" value="sign-out">Sign out ${label} on this device</button></form>
</section>`
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
