// The operator dashboard's HTML (admin.ts answers its forms): health and version, accounts
// with search and per-account actions, invite codes, storage, and recent activity. Plain forms
// in the pages' one stylesheet; no script.
import type { ServerResponse } from 'node:http'
import type { AccountListing } from '../../account/search.ts'
import type { InviteCodeInfo } from '../../account/invites.ts'
import { type ActivityView, activityPanel } from './admin-activity.ts'
import { type BackupsView, backupsPanel } from './admin-backups.ts'
import { formatBytes, hidden, html, type Html, sendPage } from './html.ts'

export interface AdminView {
  query: string
  notice?: string
  error?: string
  status?: number
  /** A password made by an action, shown once. */
  secret?: string
  serviceName: string
  version: string
  /** Null when healthy, else what the health check said. */
  health: string | null
  uptimeMs: number
  accounts: Array<AccountListing & { repoBytes: number; blobBytes: number | null }>
  counts: { total: number; recent: number }
  invites: InviteCodeInfo[]
  storage: {
    dbs: Array<{ name: string; bytes: number }>
    dataDirectory: string
    free: number | null
    size: number | null
    blobStore: { kind: 'disk'; location: string; free: number | null; size: number | null } | { kind: 's3'; bucket: string; endpoint: string | null }
  }
  firehoseSubscribers: number
  lastSeq: number | null
  activity: ActivityView
  backups: BackupsView
}

export interface SignInOptions {
  error?: string
  status?: number
  /** PDS_ADMIN_PASSWORD is set. */
  passwordSet: boolean
  /** HEARTH_ADMIN_DIDS lists accounts. */
  accountsAllowed: boolean
  /** Operator accounts signed in on this browser at /account. */
  operators: Array<{ did: string; handle: string | null }>
}

export function signInPage(res: ServerResponse, csrf: string, o: SignInOptions): void {
  const off = !o.passwordSet && !o.accountsAllowed
  sendPage(res, {
    title: 'Operator sign-in',
    status: o.status ?? 200,
    body: html`<h1>Operator sign-in</h1>
${off
  ? html`<p class="error" role="alert">No admin password is set (PDS_ADMIN_PASSWORD) and no account is marked as an operator (HEARTH_ADMIN_DIDS), so the dashboard is off.</p>`
  : html`${o.error ? html`<p class="error" role="alert" id="admin-error">${o.error}</p>` : ''}
${o.operators.map(
    (a) => html`<form method="post" action="/admin">${hidden('csrf', csrf)}${hidden('did', a.did)}<div class="actions"><button type="submit" name="action" value="sign-in-account">Continue as ${a.handle ? `@${a.handle}` : a.did}</button></div></form>`,
  )}
${o.passwordSet
    ? html`${o.operators.length > 0 ? html`<h2>Or with the admin password</h2>` : ''}<form method="post" action="/admin">${hidden('csrf', csrf)}
<label for="admin-password">Admin password</label>
<input type="password" id="admin-password" name="password" autocomplete="current-password" required${o.error ? html` aria-describedby="admin-error"` : ''}>
<div class="actions"><button type="submit" name="action" value="sign-in">Sign in</button></div>
</form>`
    : ''}
${o.accountsAllowed && o.operators.length === 0 ? html`<p class="muted">With an operator account (HEARTH_ADMIN_DIDS): <a href="/account">sign in at /account</a> on this browser first, then come back here.</p>` : ''}`}`,
  })
}

function duration(ms: number): string {
  const m = Math.floor(ms / 60_000)
  if (m < 60) return `${m} min`
  const h = Math.floor(m / 60)
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} days`
}

const minute = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') + ' UTC' : 'never')

export function dashboardPage(res: ServerResponse, csrf: string, v: AdminView): void {
  const form = (action: string, fields: Html, button: string, cls = '', label?: string) =>
    html`<form method="post" action="/admin">${hidden('csrf', csrf)}${hidden('q', v.query)}${fields}<button type="submit"${cls ? html` class="${cls}"` : ''} name="action" value="${action}"${label ? html` aria-label="${label}"` : ''}>${button}</button></form>`
  const accountItems = v.accounts.map((a) => {
    const name = a.handle ?? a.did
    const status = a.takedownRef ? 'taken down' : a.deactivatedAt ? 'deactivated' : 'active'
    return html`<li class="admin-account"><div><strong>${name}</strong> <span class="badge${status === 'active' ? ' ok' : ''}">${status}</span>
<br><code>${a.did}</code>
<br><span class="muted">${a.email ?? 'no email'}${a.email ? (a.emailConfirmedAt ? ' (confirmed)' : ' (not confirmed)') : ''} · repo ${formatBytes(a.repoBytes)} · blobs ${formatBytes(a.blobBytes)} · joined ${minute(a.createdAt)} · last commit ${minute(a.lastCommitAt)}</span>
${a.takedownRef ? html`<br><span class="muted">Takedown reason: ${a.takedownRef}</span>` : ''}</div>
<details><summary>Actions for ${name}</summary><div class="group">
${a.takedownRef
  ? form('untakedown', hidden('did', a.did), 'Lift takedown', 'secondary')
  : form('takedown', html`${hidden('did', a.did)}<label for="reason-${idPart(a.did)}">Takedown reason</label><input type="text" id="reason-${idPart(a.did)}" name="reason" maxlength="500" required>`, 'Take down', 'danger')}
${form('reset-password', hidden('did', a.did), 'Reset password', 'secondary', `Reset the password of ${name}`)}
${a.email && !a.emailConfirmedAt ? form('resend-confirmation', hidden('did', a.did), 'Resend email confirmation', 'secondary', `Resend the email confirmation of ${name}`) : ''}
${form('delete-account', html`${hidden('did', a.did)}<label for="confirm-${idPart(a.did)}">Type ${a.handle ? 'the handle' : 'the DID'} to delete for good</label><input type="text" id="confirm-${idPart(a.did)}" name="confirm" autocomplete="off" required>`, 'Delete account', 'danger')}
</div></details></li>`
  })
  const inviteItems = v.invites.map(
    (c) => html`<li class="account"><span class="grow"><code>${c.code}</code> ${c.disabled ? html`<span class="badge">disabled</span>` : ''}
<br><span class="muted">${c.uses.length} of ${c.available} used · for ${c.forAccount} · created ${minute(c.createdAt)}${c.uses.length ? html` · used by ${c.uses.map((u) => u.usedBy).join(', ')}` : ''}</span></span>
${c.disabled ? '' : form('disable-invite', hidden('code', c.code), 'Disable', 'secondary', `Disable invite code ${c.code}`)}</li>`,
  )
  sendPage(res, {
    title: `${v.serviceName}: operator dashboard`,
    status: v.status ?? 200,
    wide: true,
    body: html`<h1>Operator dashboard</h1>
${v.error ? html`<p class="error" role="alert">${v.error}</p>` : ''}
${v.notice ? html`<p class="notice" role="status">${v.notice}</p>` : ''}
${v.secret ? html`<p><code class="secret">${v.secret}</code></p>` : ''}
<section aria-labelledby="health"><h2 id="health">Server</h2>
<dl class="facts"><dt>Health</dt><dd>${v.health === null ? html`<span class="badge ok">healthy</span>` : html`<span class="badge">unhealthy</span> ${v.health}`}</dd>
<dt>Version</dt><dd>${v.version}</dd><dt>Up for</dt><dd>${duration(v.uptimeMs)}</dd>
<dt>Accounts</dt><dd>${v.counts.total} (${v.counts.recent} joined in the last 24 hours)</dd>
<dt>Firehose</dt><dd>${v.firehoseSubscribers} subscriber${v.firehoseSubscribers === 1 ? '' : 's'}, last event #${v.lastSeq ?? 0}</dd></dl></section>
${activityPanel(v.activity)}
<section aria-labelledby="accounts"><h2 id="accounts">Accounts</h2>
<form method="get" action="/admin" role="search"><label for="q">Search by handle, DID or email</label><span class="joined"><input type="text" id="q" name="q" value="${v.query}" autocapitalize="none" spellcheck="false"><button type="submit">Search</button></span></form>
${v.accounts.length > 0 ? html`<ul class="plain" aria-label="Accounts">${accountItems}</ul>` : html`<p class="muted">No accounts match.</p>`}
${v.accounts.length === 50 ? html`<p class="muted">The 50 newest matches are shown; search to narrow down.</p>` : ''}</section>
<section aria-labelledby="invites"><h2 id="invites">Invite codes</h2>
${form('create-invites', html`<span class="joined"><label for="inv-count">Codes</label><input type="number" id="inv-count" name="count" value="1" min="1" max="100"><label for="inv-uses">Uses each</label><input type="number" id="inv-uses" name="uses" value="1" min="1" max="1000"></span>`, 'Create invite codes')}
${v.invites.length > 0 ? html`<ul class="plain" aria-label="Invite codes">${inviteItems}</ul>` : html`<p class="muted">No invite codes yet.</p>`}</section>
<section aria-labelledby="storage"><h2 id="storage">Storage</h2>
<dl class="facts">${v.storage.dbs.map((d) => html`<dt>${d.name}</dt><dd>${formatBytes(d.bytes)}</dd>`)}
<dt>Free disk</dt><dd>${formatBytes(v.storage.free)} of ${formatBytes(v.storage.size)} (<code>${v.storage.dataDirectory}</code>)</dd>
<dt>Blob store</dt><dd>${blobStoreText(v.storage.blobStore)}</dd></dl></section>
${backupsPanel(v.backups, form)}
${form('sign-out', html``, 'Sign out', 'link')}`,
  })
}

function blobStoreText(b: AdminView['storage']['blobStore']): Html {
  if (b.kind === 's3') return html`S3 bucket <code>${b.bucket}</code> at ${b.endpoint ? html`<code>${b.endpoint}</code>` : 'AWS'} (its space is the provider's)`
  return html`on disk, <code>${b.location}</code>: ${formatBytes(b.free)} free of ${formatBytes(b.size)}`
}

function idPart(did: string): string {
  return did.replace(/[^A-Za-z0-9_-]/g, '_')
}
