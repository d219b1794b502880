// The settings part of an account's section on /account (the forms account-actions.ts
// answers): account status, email, password, handle, app passwords, export, deactivation and
// deletion. Plain forms: each works without JavaScript; the less used ones sit in <details>
// that open when an action of theirs has just answered.
import { listPasswordSessions } from '../../account/session-list.ts'
import type { AccountRow } from '../../account/accounts.ts'
import type { HandleCheck } from './account-actions.ts'
import type { PagesContext } from './context.ts'
import { formatBytes, hidden, html, type Html } from './html.ts'

/** What the last action left to show in this account's section. */
export interface SettingsView {
  /** The action that answered (its group's <details> opens). */
  action?: string
  notice?: string
  error?: string
  created?: { name: string; password: string }
  handleCheck?: HandleCheck
  awaitingCode?: boolean
}

const GROUP_OF: Record<string, string> = {
  'create-app-password': 'app-passwords',
  'revoke-app-password': 'app-passwords',
  'revoke-password-session': 'password-sessions',
  'change-password': 'password',
  'request-email-confirmation': 'email',
  'confirm-email': 'email',
  'request-email-update': 'email',
  'update-email': 'email',
  'enable-email-2fa': 'email-2fa',
  'disable-email-2fa': 'email-2fa',
  'update-handle': 'handle',
  'check-handle': 'handle',
  deactivate: 'deactivate',
  activate: 'deactivate',
  'request-delete': 'delete',
  delete: 'delete',
}

const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ') + ' UTC'

export function settingsSections(ctx: PagesContext, csrf: string, account: AccountRow, view: SettingsView = {}): Html {
  const did = account.did
  const open = view.action ? GROUP_OF[view.action] : undefined
  const form = (action: string, fields: Html, button: string, cls = '') =>
    html`<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', did)}${fields}<div class="actions"><button type="submit"${cls ? html` class="${cls}"` : ''} name="action" value="${action}">${button}</button></div></form>`
  const group = (id: string, title: string, body: Html) =>
    html`<details id="${id}-${idPart(did)}"${open === id ? html` open` : ''}><summary>${title}</summary><div class="group">${body}</div></details>`
  const uid = (name: string) => `${name}-${idPart(did)}`
  const status = account.takedownRef ? 'Taken down' : account.deactivatedAt ? 'Deactivated' : 'Active'

  const messages = html`${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ''}${view.notice ? html`<p class="notice" role="status">${view.notice}</p>` : ''}`

  // Email: confirm the current address; change it (with a code to the current, confirmed one).
  const confirmed = !!account.emailConfirmedAt
  const emailBody = html`<p>Your address: <strong>${account.email ?? 'none'}</strong> ${account.email ? (confirmed ? html`<span class="badge ok">confirmed</span>` : html`<span class="badge">not confirmed</span>`) : ''}</p>
${account.email && !confirmed
    ? html`${form('request-email-confirmation', html``, 'Email me a confirmation code', 'secondary')}
${form('confirm-email', html`<label for="${uid('confirm-code')}">Confirmation code</label><input type="text" id="${uid('confirm-code')}" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required>`, 'Confirm my address')}`
    : ''}
<h4>Change address</h4>
${confirmed ? html`<p class="muted">Your address is confirmed, so the change needs a code we send to it first.</p>${form('request-email-update', html``, 'Email me a code to change my address', 'secondary')}` : ''}
${form(
    'update-email',
    html`<label for="${uid('new-email')}">New address</label><input type="email" id="${uid('new-email')}" name="email" autocomplete="email" required>
${confirmed ? html`<label for="${uid('update-code')}">Code from the email</label><input type="text" id="${uid('update-code')}" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required>` : ''}`,
    'Change my address',
  )}`

  const factorOn = !!ctx.s.accounts.getEmailAuthFactor(did)
  const factorBody = factorOn
    ? html`<p>Sign-in codes by email are <strong>on</strong>: signing in with your password also asks for a code we email to ${account.email}. App passwords skip it.</p>
<p class="muted">Turning them off needs a code we email you first.</p>
${view.awaitingCode
    ? form('disable-email-2fa', html`<label for="${uid('2fa-code')}">Code from the email</label><input type="text" id="${uid('2fa-code')}" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required>`, 'Turn sign-in codes off')
    : form('disable-email-2fa', html``, 'Email me a code to turn them off', 'secondary')}`
    : html`<p>Sign-in codes by email are <strong>off</strong>. When on, signing in with your password also asks for a code we email you.</p>
${confirmed ? form('enable-email-2fa', html``, 'Turn sign-in codes on') : html`<p class="muted">Confirm your email address first: the codes go to it.</p>`}`

  const passwordBody = html`<p class="muted">Changing it signs you out of every other device, app session and OAuth app. App passwords keep working.</p>
${form(
    'change-password',
    html`<label for="${uid('cur-pw')}">Current password</label><input type="password" id="${uid('cur-pw')}" name="current_password" autocomplete="current-password" required>
<label for="${uid('new-pw')}">New password</label><input type="password" id="${uid('new-pw')}" name="new_password" autocomplete="new-password" required>
<label for="${uid('new-pw2')}">New password again</label><input type="password" id="${uid('new-pw2')}" name="new_password_again" autocomplete="new-password" required>`,
    'Change password',
  )}`

  const handleBody = handleSection(ctx, account, view, form, uid)

  const appPasswords = ctx.s.accounts.listAppPasswords(did)
  const appPasswordsBody = html`<p class="muted">For apps that sign in with a password rather than OAuth. Each app gets its own, and you can revoke one without changing your password.</p>
${view.created ? html`<div class="notice" role="status"><p>Your new app password <strong>${view.created.name}</strong>:</p><p><code class="secret" id="${uid('new-app-pw')}">${view.created.password}</code></p><p class="muted">Copy it now: it will not be shown again.</p></div>` : ''}
${appPasswords.length > 0
    ? html`<ul class="plain" aria-label="App passwords">${appPasswords.map(
        (p) => html`<li class="account"><span class="grow"><strong>${p.name}</strong>${p.privileged ? html` <span class="badge">privileged</span>` : ''}<br><span class="muted">Created ${minute(p.createdAt)}</span></span>
<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', did)}${hidden('name', p.name)}<button type="submit" class="secondary" name="action" value="revoke-app-password" aria-label="Revoke app password ${p.name}">Revoke</button></form></li>`,
      )}</ul>`
    : html`<p class="muted">No app passwords.</p>`}
${form(
    'create-app-password',
    html`<label for="${uid('app-pw-name')}">Name</label><input type="text" id="${uid('app-pw-name')}" name="name" maxlength="100" required placeholder="e.g. my phone app">
<p class="check"><input type="checkbox" id="${uid('app-pw-priv')}" name="privileged"><label for="${uid('app-pw-priv')}">Privileged: may also read and send direct messages</label></p>`,
    'Create app password',
  )}`

  const passwordSessions = listPasswordSessions(ctx.s.accounts.db, did)
  const passwordSessionsBody = html`<p class="muted">Apps signed in with your password or an app password (not through OAuth). Ending one signs that app out.</p>
${passwordSessions.length > 0
    ? html`<ul class="plain" aria-label="Password sessions">${passwordSessions.map((p) => {
        const what = p.appPasswordName ? `App password “${p.appPasswordName}”` : 'Your password'
        return html`<li class="account"><span class="grow"><strong>${what}</strong><br><span class="muted">Valid until ${minute(p.expiresAt)} (renewed while the app uses it)</span></span>
<form method="post" action="/account">${hidden('csrf', csrf)}${hidden('did', did)}${hidden('session_id', p.id)}<button type="submit" class="secondary" name="action" value="revoke-password-session" aria-label="End the session of ${what} until ${minute(p.expiresAt)}">End</button></form></li>`
      })}</ul>`
    : html`<p class="muted">No password sessions.</p>`}`

  const blobs = usedBlobs(ctx, did)
  const exportBody = html`<p>Your repository holds everything you have posted: download it as a CAR file, the standard format any PDS can import.</p>
<p><a class="button secondary" href="/account/repo.car?did=${encodeURIComponent(did)}" download>Download my repository</a></p>
<p>Your images and videos (blobs) come as one <code>.tar</code> archive: every blob your posts and profile use, one file each, named by its CID. Any system opens it (double-click, or <code>tar xf</code>).</p>
<p><a class="button secondary" href="/account/blobs.tar?did=${encodeURIComponent(did)}" download>Download my images and videos</a> <span class="muted">(${blobs.count} file${blobs.count === 1 ? '' : 's'}, ${formatBytes(blobs.bytes)})</span></p>
<p class="muted">To move to another PDS, use its “move an account in” tool or a migration tool: it needs your handle and password here and the code from an email this server sends.</p>`

  const deactivateBody = account.deactivatedAt
    ? html`<p>This account is deactivated since ${minute(account.deactivatedAt)}: others cannot see it and apps cannot post for it. Your data is kept.</p>
${form('activate', html``, 'Reactivate my account')}`
    : html`<p>Deactivating hides your account and stops apps from posting for it, keeping your data. You can reactivate it here at any time.</p>
${form('deactivate', html`<label for="${uid('deact-pw')}">Password</label><input type="password" id="${uid('deact-pw')}" name="password" autocomplete="current-password" required>`, 'Deactivate my account', 'danger')}`

  const deleteBody = html`<p><strong>Deleting is permanent:</strong> your posts, follows, images and this handle are removed from this server and cannot be recovered. Download your repository first if you may want it.</p>
${form('request-delete', html``, 'Email me a deletion code', 'secondary')}
${form(
    'delete',
    html`<label for="${uid('del-code')}">Code from the email</label><input type="text" id="${uid('del-code')}" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required>
<label for="${uid('del-pw')}">Password</label><input type="password" id="${uid('del-pw')}" name="password" autocomplete="current-password" required>`,
    'Delete my account for good',
    'danger',
  )}`

  return html`<h3>Account</h3>
<dl class="facts"><dt>Handle</dt><dd>${account.handle ? `@${account.handle}` : 'none'}</dd><dt>DID</dt><dd><code>${did}</code></dd><dt>Status</dt><dd>${status}</dd></dl>
${messages}
${group('email', 'Email', emailBody)}
${group('password', 'Password', passwordBody)}
${group('email-2fa', `Sign-in codes by email (${factorOn ? 'on' : 'off'})`, factorBody)}
${group('handle', 'Handle', handleBody)}
${group('app-passwords', `App passwords (${appPasswords.length})`, appPasswordsBody)}
${group('password-sessions', `Password sessions (${passwordSessions.length})`, passwordSessionsBody)}
${group('export', 'Export my data', exportBody)}
${group('deactivate', account.deactivatedAt ? 'Reactivate' : 'Deactivate', deactivateBody)}
${group('delete', 'Delete my account', deleteBody)}`
}

function handleSection(
  ctx: PagesContext,
  account: AccountRow,
  view: SettingsView,
  form: (action: string, fields: Html, button: string, cls?: string) => Html,
  uid: (name: string) => string,
): Html {
  const did = account.did
  const domains = ctx.s.config.identity.serviceHandleDomains
  const domainField =
    domains.length === 1
      ? html`${hidden('domain', domains[0] as string)}<span class="suffix">${domains[0]}</span>`
      : html`<select name="domain" aria-label="Domain">${domains.map((d) => html`<option value="${d}">${d}</option>`)}</select>`
  const check = view.handleCheck
  const checkResult = check
    ? check.resolvedTo === did
      ? html`<p class="notice" role="status"><strong>${check.handle}</strong> points to your account. You can switch to it now.</p>`
      : check.resolvedTo
        ? html`<p class="error" role="alert"><strong>${check.handle}</strong> points to another account (<code>${check.resolvedTo}</code>). Fix the record below.</p>`
        : html`<p class="error" role="alert"><strong>${check.handle}</strong> does not point to any account yet. Add one of the records below; DNS changes can take a while to be seen.</p>`
    : ''
  const own = check?.handle ?? ''
  const domainShown = own || 'your.domain'
  return html`<p>Your handle is <strong>${account.handle ? `@${account.handle}` : 'none'}</strong>.</p>
<h4>A name on this server</h4>
${form(
    'update-handle',
    html`${hidden('kind', 'service')}<label for="${uid('handle-name')}">Name</label><span class="joined"><input type="text" id="${uid('handle-name')}" name="name" autocapitalize="none" spellcheck="false" minlength="3" maxlength="18" pattern="[A-Za-z0-9][A-Za-z0-9\\-]*" required>${domainField}</span>`,
    'Use this handle',
  )}
<h4>Your own domain</h4>
<p>Prove the domain is yours with <em>one</em> of these, then check and switch:</p>
<ul>
<li>A DNS <strong>TXT</strong> record named <code>_atproto.${domainShown}</code> with the value <code>did=${did}</code></li>
<li>or a file at <code>https://${domainShown}/.well-known/atproto-did</code> containing only <code>${did}</code></li>
</ul>
${checkResult}
${form(
    'update-handle',
    html`${hidden('kind', 'own')}<label for="${uid('handle-own')}">Domain</label><input type="text" id="${uid('handle-own')}" name="handle" value="${own}" autocapitalize="none" spellcheck="false" placeholder="alice.example.com" required>
<div class="actions"><button type="submit" class="secondary" name="action" value="check-handle">Check</button></div>`,
    'Use this domain',
  )}`
}

/** A DID made safe for an id attribute. */
function idPart(did: string): string {
  return did.replace(/[^A-Za-z0-9_-]/g, '_')
}

/** The blobs the account's records use (what the archive holds, taken-down ones aside). */
function usedBlobs(ctx: PagesContext, did: string): { count: number; bytes: number } {
  const store = ctx.s.actors.get(did)
  if (!store) return { count: 0, bytes: 0 }
  return store.blobs.usedBlobTotals()
}
