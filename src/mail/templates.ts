// The account emails: plain text plus a simple HTML twin, both carrying the token. Subjects are
// the official PDS's, so users' mail filters and support answers keep matching.

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

export interface TokenMailParams {
  token: string
  /** The account's handle, when it has one. */
  handle?: string | null
}

export interface ConfirmEmailParams extends TokenMailParams {
  /** PDS_EMAIL_DISABLE_CONFIRMATION_LINK: send the code only, without the bsky.app link. */
  disableLink?: boolean
}

const CONFIRM_LINK_BASE = 'https://bsky.app/intent/verify-email?code='

export function confirmEmailMail(p: ConfirmEmailParams): RenderedMail {
  const link = p.disableLink ? null : `${CONFIRM_LINK_BASE}${encodeURIComponent(p.token)}`
  return render('Email Confirmation', p, {
    heading: 'Confirm your email',
    lead: 'Enter this code in your app to confirm your email address:',
    link,
    footer: "If you did not ask to confirm this address, you can ignore this message.",
  })
}

export function updateEmailMail(p: TokenMailParams): RenderedMail {
  return render('Email Update Requested', p, {
    heading: 'Change your email',
    lead: 'Someone asked to change the email address of your account. To allow it, enter this code in your app:',
    footer: 'If you did not ask for this, do not share the code; your email stays as it is.',
  })
}

export function resetPasswordMail(p: TokenMailParams): RenderedMail {
  return render('Password Reset Requested', p, {
    heading: 'Reset your password',
    lead: 'Someone asked to reset the password of your account. To choose a new password, enter this code in your app:',
    footer: 'If you did not ask for this, you can ignore this message; your password stays as it is.',
  })
}

export function deleteAccountMail(p: TokenMailParams): RenderedMail {
  return render('Account Deletion Requested', p, {
    heading: 'Delete your account',
    lead: 'Someone asked to permanently delete your account. To confirm the deletion, enter this code in your app together with your password:',
    footer: 'Deletion cannot be undone. If you did not ask for this, do not share the code and consider changing your password.',
  })
}

export function plcOperationMail(p: TokenMailParams): RenderedMail {
  return render('PLC Update Operation Requested', p, {
    heading: 'Confirm an identity change',
    lead: 'Someone asked to change the identity (DID document) of your account, for example to move it to another server. To allow it, enter this code:',
    footer: 'An identity change can hand your account to another server. If you did not ask for this, do not share the code and consider changing your password.',
  })
}

/**
 * The code an email two-factor sign-in asks for (official 0.5.36's sign-in-auth-factor
 * template, in Hearth's words: heading "Confirm your sign-in", the code, and the advice to
 * change the password when the sign-in was not the user's).
 */
export function signInAuthFactorMail(p: TokenMailParams): RenderedMail {
  return render('Sign-in Confirmation', p, {
    heading: 'Confirm your sign-in',
    lead: `We received a sign-in request for ${p.handle ? `the account @${p.handle}` : 'your account'}. Use this code to sign in:`,
    footer: "If this wasn't you, someone knows your password: change it now to protect your account.",
  })
}

interface Body {
  heading: string
  lead: string
  link?: string | null
  footer: string
}

function render(subject: string, p: TokenMailParams, body: Body): RenderedMail {
  const greeting = p.handle ? `Hello @${p.handle},` : 'Hello,'
  const text = [
    greeting,
    '',
    body.lead,
    '',
    `    ${p.token}`,
    '',
    ...(body.link ? ['Or open this link:', body.link, ''] : []),
    'The code is valid for 15 minutes and works once.',
    '',
    body.footer,
    '',
  ].join('\n')
  const html = [
    '<!doctype html>',
    '<html><body style="font-family: sans-serif; line-height: 1.5; color: #111;">',
    `<h2>${escapeHtml(body.heading)}</h2>`,
    `<p>${escapeHtml(greeting)}</p>`,
    `<p>${escapeHtml(body.lead)}</p>`,
    `<p style="font-size: 1.5em; font-family: monospace; letter-spacing: 0.1em;"><strong>${escapeHtml(p.token)}</strong></p>`,
    ...(body.link ? [`<p><a href="${escapeHtml(body.link)}">Confirm with one click</a></p>`] : []),
    '<p>The code is valid for 15 minutes and works once.</p>',
    `<p style="color: #555;">${escapeHtml(body.footer)}</p>`,
    '</body></html>',
    '',
  ].join('\n')
  return { subject, text, html }
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** A rough plain-text rendering of moderator-written HTML (admin.sendEmail content). */
export function htmlToPlainText(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|h[1-6]|li|tr)>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}
