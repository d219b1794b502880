// Server-rendered HTML for the sign-in, consent, account and admin pages: one inline stylesheet
// (light and dark by prefers-color-scheme, narrow screens too) and the operator's branding (a
// header with name and logo, policy links, the primary colour), no other external asset than
// that logo, no script (but the one-line auto-submit of a form_post response), every
// interpolated value escaped. Security headers forbid
// framing, loading anything, and posting forms anywhere but here (and, on authorization
// pages, the client's redirect URI, because browsers apply form-action to the redirect that
// follows a form post).
import type { ServerResponse } from 'node:http'
import { createHash } from 'node:crypto'
import type { OAuthConfig } from '../../config/index.ts'

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function esc(value: string | number | null | undefined): string {
  return String(value ?? '').replace(
    /[&<>"'`]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] as string,
  )
}

/** Trusted markup, so it is not escaped again. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

/** A template tag: interpolations are escaped unless they are Html (or arrays of Html). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] as string
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + (strings[i + 1] as string)
  }
  return new Html(out)
}

function render(v: unknown): string {
  if (v instanceof Html) return v.value
  if (Array.isArray(v)) return v.map(render).join('')
  if (v === null || v === undefined || v === false) return ''
  return esc(String(v))
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f4f6;color:#1b1b1f}
main{max-width:30rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:1.25rem 0 .5rem}
p{margin:.5rem 0}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=password],input[type=email],input[type=number]{width:100%;padding:.6rem;border:1px solid #8a8a93;border-radius:8px;font:inherit}
.check label{display:inline;font-weight:400;margin-left:.25rem}
button{font:inherit;padding:.6rem 1.1rem;border-radius:8px;border:1px solid var(--primary,#0a58ca);background:var(--primary,#0a58ca);color:var(--on-primary,#fff);cursor:pointer}
button.secondary{background:#fff;color:var(--primary,#0a58ca)}
button.link{background:none;border:none;color:var(--primary,#0a58ca);padding:.2rem;text-decoration:underline}
button:focus-visible,input:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.25rem}
.error{background:#fde8e8;border:1px solid #c81e1e;color:#8a1010;padding:.6rem;border-radius:8px}
.notice{background:#eef4ff;border:1px solid #a7c1f5;padding:.6rem;border-radius:8px}
ul.plain{list-style:none;padding:0;margin:0}
ul.perms{padding-left:1.2rem}
.account{display:flex;align-items:center;gap:.75rem;padding:.5rem 0;border-bottom:1px solid #e4e4e8}
.account form{margin:0}
.initials{display:inline-flex;align-items:center;justify-content:center;width:2.25rem;height:2.25rem;border-radius:50%;background:#dfe7f7;color:#1d3f8a;font-weight:700;flex:none}
.grow{flex:1;min-width:0;overflow-wrap:anywhere}
.muted{color:#5b5b66;font-size:.9rem}
code{overflow-wrap:anywhere}
main.wide{max-width:56rem}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));column-gap:1.5rem}
figure.chart{margin:.5rem 0 1rem}
figure.chart figcaption{font-weight:600;font-size:.95rem}
figure.chart svg{display:block;height:6rem;border-radius:4px}
.admin-account{padding:.6rem 0;border-bottom:1px solid #e4e4e8;overflow-wrap:anywhere}
.joined label{margin:0}
input[type=number]{max-width:6rem}
h3{font-size:1rem;margin:1.1rem 0 .4rem}
h4{font-size:.95rem;margin:1rem 0 .25rem}
select{font:inherit;padding:.55rem;border:1px solid #8a8a93;border-radius:8px;background:inherit;color:inherit}
details{border:1px solid #e4e4e8;border-radius:8px;margin:.5rem 0;padding:0 .75rem}
summary{cursor:pointer;font-weight:600;padding:.6rem 0}
summary:focus-visible,a:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.group{padding-bottom:.75rem}
.group form{margin:0 0 .5rem}
.group .actions{margin-top:.6rem}
.badge{display:inline-block;font-size:.8rem;padding:0 .45rem;border-radius:999px;border:1px solid #8a8a93;color:#5b5b66}
.badge.ok{border-color:#1a7f37;color:#1a7f37}
.badge.bad{border-color:#b42318;color:#b42318}
progress{width:100%;height:1rem}
dl.facts{display:grid;grid-template-columns:auto 1fr;gap:.15rem .75rem;margin:.25rem 0 .75rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
button.danger{background:#b42318;border-color:#b42318}
a{color:var(--primary,#0a58ca)}
a.button{display:inline-block;padding:.6rem 1.1rem;border-radius:8px;border:1px solid var(--primary,#0a58ca);text-decoration:none}
header.brand,footer.brand{max-width:30rem;margin:1rem auto 0;padding:0 1.5rem;display:flex;align-items:center;gap:.6rem;flex-wrap:wrap}
header.brand a{display:flex;align-items:center;gap:.6rem;color:inherit;text-decoration:none;font-weight:700}
header.brand img{height:2rem;width:auto;max-width:8rem}
footer.brand{margin:0 auto 2rem;font-size:.9rem}
body.wide header.brand,body.wide footer.brand{max-width:56rem}
header.brand+main{margin-top:.75rem}
.joined{display:flex;align-items:center;gap:.35rem}
.joined input{flex:1;min-width:0}
.suffix{color:#5b5b66;white-space:nowrap}
code.secret{font-size:1.15rem;padding:.2rem .4rem;border-radius:6px;background:#eef0f4;user-select:all}
@media (max-width:34rem){main{margin:0;border-radius:0;box-shadow:none;padding:1rem}header.brand,footer.brand{padding:0 1rem;margin:.75rem 0}header.brand+main{margin-top:.75rem}dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}}
@media (prefers-color-scheme:dark){
body{background:#121216;color:#e6e6ea}
main{background:#1d1d23;box-shadow:none}
input[type=text],input[type=password],input[type=email],input[type=number],select{background:#121216;color:#e6e6ea;border-color:#6c6c78}
button{border-color:var(--primary-dark,#6ea0ff);background:var(--primary-dark,#2f6fe0)}
button.secondary{background:transparent;color:#9fc0ff}
button.link,a{color:#9fc0ff}
a.button{border-color:#6ea0ff}
button.danger{background:#c0392b;border-color:#e0665a}
.error{background:#3a1212;border-color:#e05a5a;color:#ffd4d4}
.notice{background:#16233d;border-color:#3f63a8}
.account,.admin-account,details{border-color:#34343c}
.initials{background:#2a3550;color:#cfe0ff}
.muted,.suffix,.badge{color:#a3a3ae}
.badge.ok{color:#5fd07a;border-color:#5fd07a}
.badge.bad{color:#ff8a80;border-color:#ff8a80}
code.secret{background:#2a2a33}
.chart .bar{fill:#6ea0ff}
}
`
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`

/**
 * The operator's branding, as the official reads it (PDS_SERVICE_NAME, PDS_LOGO_URL, PDS_HOME_URL,
 * the support and policy links, PDS_PRIMARY_COLOR and PDS_PRIMARY_COLOR_CONTRAST): a small header
 * with the logo and name above every page, the links below it, and buttons in the primary colour.
 */
export type Brand = OAuthConfig['branding']

interface BrandParts {
  brand: Brand
  /** The extra stylesheet (colours), or null; allowed by its hash. */
  style: string | null
  /** The logo's origin, for img-src. */
  logoOrigin: string | null
}

const brandOfResponse = new WeakMap<ServerResponse, BrandParts>()
const partsOfBrand = new WeakMap<Brand, BrandParts>()

/** The branding the page answered on `res` shows (set by the page guard). */
export function brandResponse(res: ServerResponse, brand: Brand): void {
  let parts = partsOfBrand.get(brand)
  if (!parts) {
    parts = { brand, style: brandStyle(brand.colors), logoOrigin: httpOrigin(brand.logoUrl) }
    partsOfBrand.set(brand, parts)
  }
  brandOfResponse.set(res, parts)
}

function httpOrigin(url: string | null): string | null {
  if (!url) return null
  try {
    const u = new URL(url)
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : null
  } catch {
    return null
  }
}

/** A colour as the official's variables give it (hex, `rgb(r, g, b)` or `r g b`) → [r, g, b]; null when unreadable. */
export function parseColor(value: string | number | undefined): [number, number, number] | null {
  if (typeof value !== 'string') return null
  const v = value.trim()
  let m = /^#?([0-9a-f]{6})$/i.exec(v)
  if (m) return [0, 2, 4].map((i) => parseInt(m![1]!.slice(i, i + 2), 16)) as [number, number, number]
  m = /^#?([0-9a-f]{3})$/i.exec(v)
  if (m) return [0, 1, 2].map((i) => parseInt(m![1]![i]!.repeat(2), 16)) as [number, number, number]
  m = /^(?:rgb\(\s*)?(\d{1,3})[\s,]+(\d{1,3})[\s,]+(\d{1,3})\s*\)?$/i.exec(v)
  if (m) {
    const rgb = [m[1], m[2], m[3]].map(Number) as [number, number, number]
    return rgb.every((c) => c <= 255) ? rgb : null
  }
  return null
}

const hex = (rgb: [number, number, number]) => `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`

function luminance([r, g, b]: [number, number, number]): number {
  const lin = (c: number) => {
    const x = c / 255
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/** The primary colour's variables; text on it is the contrast colour given, else black or white, whichever reads better. */
function brandStyle(colors: Record<string, string | number>): string | null {
  const primary = parseColor(colors.primary)
  if (!primary) return null
  const given = parseColor(colors.primaryContrast)
  const onPrimary = given ?? (luminance(primary) > 0.179 ? ([0, 0, 0] as [number, number, number]) : ([255, 255, 255] as [number, number, number]))
  return `:root{--primary:${hex(primary)};--on-primary:${hex(onPrimary)};--primary-dark:${hex(primary)}}`
}

export interface PageOptions {
  title: string
  body: Html
  status?: number
  /** Origins (or `scheme:`) forms may post to besides this server, because the post redirects there. */
  formTargets?: string[]
  /** One inline script (allowed by its hash); pages work without it. */
  script?: string
  /** A wider column (the operator dashboard). */
  wide?: boolean
  /** More of <head> (a self-refresh while a backup runs). */
  head?: Html
}

export function setSecurityHeaders(res: ServerResponse, formTargets: string[] = [], script?: string): void {
  const formAction = ["'self'", ...formTargets].join(' ')
  const scriptSrc = script === undefined ? '' : `; script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`
  const brand = brandOfResponse.get(res)
  const brandStyleHash = brand?.style ? ` 'sha256-${createHash('sha256').update(brand.style).digest('base64')}'` : ''
  const logo = brand?.logoOrigin ? ` ${brand.logoOrigin}` : ''
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; style-src ${STYLE_HASH}${brandStyleHash}; img-src 'self' data:${logo}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'${scriptSrc}`,
  )
  res.setHeader('X-Frame-Options', 'DENY')
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('Referrer-Policy', 'same-origin')
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('Pragma', 'no-cache')
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()')
}

function brandHeader(b: Brand): Html {
  const logo = b.logoUrl ? html`<img src="${b.logoUrl}" alt="">` : ''
  return html`<header class="brand"><a href="${b.homeUrl ?? '/'}">${logo}<span>${b.name}</span></a></header>`
}

function brandFooter(b: Brand): Html | '' {
  const links = [
    [b.supportUrl, 'Support'],
    [b.privacyPolicyUrl, 'Privacy policy'],
    [b.termsOfServiceUrl, 'Terms of service'],
  ].filter((l): l is [string, string] => !!l[0])
  if (links.length === 0) return ''
  return html`<footer class="brand">${links.map(([href, label]) => html`<a href="${href}">${label}</a>`)}</footer>`
}

export function sendPage(res: ServerResponse, opts: PageOptions): void {
  const brand = brandOfResponse.get(res)
  const doc = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${opts.title}</title>
<style>${new Html(STYLE)}</style>
${brand?.style ? html`<style>${new Html(brand.style)}</style>` : ''}
${opts.head ?? ''}
</head>
<body${opts.wide ? html` class="wide"` : ''}>
${brand ? brandHeader(brand.brand) : ''}
<main${opts.wide ? html` class="wide"` : ''}>
${opts.body}
</main>
${brand ? brandFooter(brand.brand) : ''}
${opts.script === undefined ? '' : html`<script>${new Html(opts.script)}</script>`}
</body>
</html>
`.value
  setSecurityHeaders(res, opts.formTargets, opts.script)
  res.statusCode = opts.status ?? 200
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(doc))
  res.end(doc)
}

/** 303 See Other: a form post's answer the browser follows with a GET. */
export function sendRedirect(res: ServerResponse, location: string, formTargets: string[] = []): void {
  setSecurityHeaders(res, formTargets)
  res.statusCode = 303
  res.setHeader('Location', location)
  res.setHeader('Content-Length', 0)
  res.end()
}

export function sendErrorPage(res: ServerResponse, status: number, title: string, message: string): void {
  sendPage(res, {
    title,
    status,
    body: html`<h1>${title}</h1><p class="error" role="alert">${message}</p>`,
  })
}

/** One or two letters standing in for an avatar: from the first label of the handle. */
export function initials(handle: string | null, did: string): string {
  const first = (handle ?? did.replace(/^did:[a-z]+:/, '')).split('.')[0] ?? ''
  const parts = first.split(/[-_]/).filter(Boolean)
  const letters = parts.length > 1 ? `${parts[0]![0]}${parts[1]![0]}` : first.slice(0, 1)
  return letters.toUpperCase() || '?'
}

/** A byte count in binary units, "unknown" for null. */
export function formatBytes(n: number | null): string {
  if (n === null) return 'unknown'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** A hidden form field. */
export function hidden(name: string, value: string): Html {
  return html`<input type="hidden" name="${name}" value="${value}">`
}

/** The form-action source a redirect URI needs: its origin, or `scheme:` for a private-use scheme. */
export function formTargetFor(redirectUri: string | undefined): string[] {
  if (!redirectUri) return []
  try {
    const url = new URL(redirectUri)
    if (url.protocol === 'http:' || url.protocol === 'https:') return [url.origin]
    return /^[a-z][a-z0-9+.-]*:$/i.test(url.protocol) ? [url.protocol] : []
  } catch {
    return []
  }
}
