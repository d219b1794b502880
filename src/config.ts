// Every setting of the server, read from the official PDS's `PDS_*` variables (same names,
// meanings and defaults as @atproto/pds's config/env.ts + config.ts + secrets.ts) and from
// `HEARTH_*` for Hearth's own extras, plus the official logger's `LOG_*`.
//
// Differences from the official PDS, on purpose:
// - A malformed value is an error naming the variable (the official silently ignores a
//   non-integer or a boolean it cannot read); a PDS_* variable Hearth does not know or does not
//   support is reported in `warnings`.
// - Local mode (`PDS_HOSTNAME` unset or `localhost`): data under ./data, the three required
//   secrets generated on first start and kept in <data>/hearth-secrets.json (mode 0600), and a
//   did:plc directory served by the PDS itself at <publicUrl>/plc unless PDS_DID_PLC_URL is set.
//   A real hostname needs its secrets set, as the official PDS does.
// - The disk blobstore is the default (the official requires PDS_BLOBSTORE_DISK_LOCATION or S3).
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { isIP } from 'node:net'
import { inspect } from 'node:util'
import { isLogLevel, type LogConfig, type LogLevel } from './logger.ts'
import { parseDidKey } from './repo/crypto/did-key.ts'
import { Secp256k1Keypair } from './repo/crypto/keypair.ts'
import { randomSecp256k1PrivateKey } from './repo/crypto/secp256k1.ts'
import { isValidDid } from './repo/syntax.ts'
import { hearthVersion } from './version.ts'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export const DEFAULT_PORT = 2583
export const DEFAULT_PLC_URL = 'https://plc.directory'
/** Where the local did:plc directory is mounted, below the public URL. */
export const LOCAL_PLC_PATH = '/plc'
export const SECRETS_FILE_NAME = 'hearth-secrets.json'

// ---------------------------------------------------------------------------------------------
// The config shape

export interface ServiceConfig {
  /** PDS_PORT (2583). 0 picks a free port (tests); see `withListenPort`. */
  port: number
  /** PDS_HOSTNAME ("localhost"). May carry a `:port`. */
  hostname: string
  /** `http://localhost:<port>` for localhost, else `https://<hostname>`. */
  publicUrl: string
  /** PDS_SERVICE_DID (`did:web:<hostname>`): the `aud` of service-auth JWTs addressed to this PDS. */
  did: string
  /** PDS_SERVICE_NAME (`<hostname> PDS`), used in OAuth branding. */
  name: string
  /** PDS_VERSION (Hearth's package version), reported by /xrpc/_health. */
  version: string
  /** True when the hostname is localhost: Hearth's zero-configuration local mode. */
  localMode: boolean
  homeUrl: string | null
  logoUrl: string | null
  supportUrl: string | null
  privacyPolicyUrl: string | null
  termsOfServiceUrl: string | null
  contactEmailAddress: string | null
  /** PDS_ACCEPTING_REPO_IMPORTS (true). */
  acceptingImports: boolean
  /** PDS_MAX_REPO_IMPORT_SIZE in bytes; null means `blobUploadLimit`, as in the official PDS. */
  maxImportSize: number | null
  /** PDS_BLOB_UPLOAD_LIMIT in bytes (5 MiB). */
  blobUploadLimit: number
  /** PDS_DEV_MODE (false): response validation on, SSRF protection off, http OAuth resource allowed. */
  devMode: boolean
  /** PDS_EMAIL_DISABLE_CONFIRMATION_LINK (false). */
  emailDisableConfirmationLink: boolean
}

export interface DatabaseConfig {
  /** PDS_DATA_DIRECTORY (Hearth: ./data), absolute. */
  dataDirectory: string
  /** PDS_ACCOUNT_DB_LOCATION (<data>/account.sqlite). */
  accountDbLocation: string
  /** PDS_SEQUENCER_DB_LOCATION (<data>/sequencer.sqlite). */
  sequencerDbLocation: string
  /** PDS_DID_CACHE_DB_LOCATION (<data>/did_cache.sqlite). */
  didCacheDbLocation: string
  /** PDS_SQLITE_DISABLE_WAL_AUTO_CHECKPOINT (false). */
  disableWalAutoCheckpoint: boolean
}

export interface ActorStoreConfig {
  /** PDS_ACTOR_STORE_DIRECTORY (<data>/actors). */
  directory: string
  /** PDS_ACTOR_STORE_CACHE_SIZE (100). */
  cacheSize: number
}

export interface BlobstoreConfig {
  provider: 'disk'
  /** PDS_BLOBSTORE_DISK_LOCATION (Hearth: <data>/blocks). */
  location: string
  /** PDS_BLOBSTORE_DISK_TMP_LOCATION (<location>/tempt, the official's spelling). */
  tempLocation: string
  /** <location>/quarantine, as the official disk blobstore. */
  quarantineLocation: string
}

export interface IdentityConfig {
  /** PDS_DID_PLC_URL; `<publicUrl>/plc` when the local directory is on; else https://plc.directory. */
  plcUrl: string
  /** True when this server hosts its own did:plc directory (local mode, or HEARTH_LOCAL_PLC=true). */
  localPlc: boolean
  /** The path the local directory is mounted at (`/plc`), or null when `localPlc` is false. */
  localPlcPath: string | null
  /** HEARTH_LOCAL_PLC_DB_LOCATION (<data>/plc.sqlite): the local directory's database. */
  localPlcDbLocation: string
  /** PDS_DID_CACHE_STALE_TTL in ms (1 hour). */
  cacheStaleTtlMs: number
  /** PDS_DID_CACHE_MAX_TTL in ms (1 day). */
  cacheMaxTtlMs: number
  /** PDS_ID_RESOLVER_TIMEOUT in ms (3 s). */
  resolverTimeoutMs: number
  /** PDS_RECOVERY_DID_KEY (a did:key), or null. */
  recoveryDidKey: string | null
  /** PDS_SERVICE_HANDLE_DOMAINS (`.<hostname>`, or `.test` on localhost); each starts with '.'. */
  serviceHandleDomains: string[]
  /** PDS_HANDLE_BACKUP_NAMESERVERS. */
  handleBackupNameservers: string[]
  /** PDS_ENABLE_DID_DOC_WITH_SESSION (false). */
  enableDidDocWithSession: boolean
}

export interface InvitesConfig {
  /** PDS_INVITE_REQUIRED: true unless explicitly false. */
  required: boolean
  /** PDS_INVITE_INTERVAL in ms between codes granted to users, or null. */
  interval: number | null
  /** PDS_INVITE_EPOCH in ms (0). */
  epoch: number
}

export interface EmailConfig {
  /** Carries credentials: never log it. */
  smtpUrl: string
  fromAddress: string
}

export interface ServiceEndpointConfig {
  url: string
  did: string
}

export interface AppViewConfig extends ServiceEndpointConfig {
  /** PDS_BSKY_APP_VIEW_CDN_URL_PATTERN, or null. */
  cdnUrlPattern: string | null
}

export interface RateLimitsConfig {
  /** PDS_RATE_LIMITS_ENABLED (false). */
  enabled: boolean
  /** PDS_RATE_LIMIT_BYPASS_KEY: the `x-ratelimit-bypass` header value that skips limits. */
  bypassKey: string | null
  /** PDS_RATE_LIMIT_BYPASS_IPS: addresses or CIDR ranges; they are also trusted as proxies. */
  bypassIps: string[]
}

export interface FetchConfig {
  /** PDS_DISABLE_SSRF_PROTECTION (defaults to dev mode). */
  disableSsrfProtection: boolean
  /** PDS_FETCH_MAX_RESPONSE_SIZE (512 KiB). */
  maxResponseSize: number
}

export interface ProxyConfig {
  disableSsrfProtection: boolean
  /** PDS_PROXY_ALLOW_HTTP2 (false). */
  allowHttp2: boolean
  /** PDS_PROXY_HEADERS_TIMEOUT (10 s). */
  headersTimeoutMs: number
  /** PDS_PROXY_BODY_TIMEOUT (30 s). */
  bodyTimeoutMs: number
  /** PDS_PROXY_MAX_RESPONSE_SIZE (10 MiB). */
  maxResponseSize: number
  /** PDS_PROXY_MAX_RETRIES (0). */
  maxRetries: number
  /** PDS_PROXY_PREFER_COMPRESSED (false). */
  preferCompressed: boolean
}

export interface OAuthConfig {
  /** The authorization server's issuer: the public URL. */
  issuer: string
  /** PDS_OAUTH_TRUSTED_CLIENTS. */
  trustedClients: string[]
  branding: {
    name: string
    logoUrl: string | null
    homeUrl: string | null
    supportUrl: string | null
    privacyPolicyUrl: string | null
    termsOfServiceUrl: string | null
    /** PDS_*_COLOR, PDS_*_COLOR_CONTRAST, PDS_*_COLOR_HUE and PDS_BACKGROUND_*_URL, by camelCase name. */
    colors: Record<string, string | number>
  }
}

export interface HearthConfig {
  /** HEARTH_BLOB_GC_GRACE_MS (24 h): how long an unreferenced blob is kept. */
  blobGcGraceMs: number
  /** HEARTH_VALIDATE_RESPONSES (dev mode): validate every XRPC output against its lexicon. */
  validateResponses: boolean
  /** HEARTH_SHUTDOWN_TIMEOUT_MS (10 s): how long in-flight requests get on shutdown. */
  shutdownTimeoutMs: number
}

export interface SecretsConfig {
  /** PDS_JWT_SECRET: HS256 key of session tokens. */
  jwtSecret: string
  /** PDS_ADMIN_PASSWORD: HTTP Basic `admin:<password>`. */
  adminPassword: string
  /** PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 64 hex digits. */
  plcRotationKeyK256PrivateKeyHex: string
  /** PDS_DPOP_SECRET, or null (then the OAuth layer picks a random one per process). */
  dpopSecret: string | null
  /** PDS_HCAPTCHA_SITE_KEY + _SECRET_KEY + _TOKEN_SALT (all three), or null. */
  hcaptcha: { siteKey: string; secretKey: string; tokenSalt: string } | null
  /** Names of the variables that were generated locally (local mode) rather than set. */
  generated: string[]
  /** The local-mode secrets file, or null when every secret came from the environment. */
  file: string | null
}

export interface ServerConfig {
  service: ServiceConfig
  db: DatabaseConfig
  actorStore: ActorStoreConfig
  blobstore: BlobstoreConfig
  identity: IdentityConfig
  invites: InvitesConfig
  /** PDS_EMAIL_SMTP_URL + PDS_EMAIL_FROM_ADDRESS, or null (mail is logged, not sent). */
  email: EmailConfig | null
  /** PDS_MODERATION_EMAIL_SMTP_URL + PDS_MODERATION_EMAIL_ADDRESS, or null. */
  moderationEmail: EmailConfig | null
  subscription: {
    /** PDS_MAX_SUBSCRIPTION_BUFFER (500). */
    maxBuffer: number
    /** PDS_REPO_BACKFILL_LIMIT_MS (1 day). */
    repoBackfillLimitMs: number
  }
  /** PDS_BSKY_APP_VIEW_URL + _DID (+ _CDN_URL_PATTERN), or null. */
  bskyAppView: AppViewConfig | null
  /** PDS_MOD_SERVICE_URL + _DID, or null. */
  modService: ServiceEndpointConfig | null
  /** PDS_REPORT_SERVICE_URL + _DID; defaults to the mod service; or null. */
  reportService: ServiceEndpointConfig | null
  rateLimits: RateLimitsConfig
  /** PDS_CRAWLERS: relay base URLs to notify (requestCrawl). */
  crawlers: string[]
  fetch: FetchConfig
  proxy: ProxyConfig
  oauth: OAuthConfig
  lexicon: {
    /** PDS_LEXICON_AUTHORITY_DID, or null. */
    didAuthority: string | null
  }
  /** LOG_ENABLED, LOG_LEVEL, LOG_SYSTEMS, LOG_DESTINATION. */
  log: LogConfig
  hearth: HearthConfig
  /** Shows as "[redacted]" when the config is serialized (JSON) or printed (console.log). */
  secrets: SecretsConfig
  /** Variables that were set but are unknown or unsupported (each message names one). */
  warnings: string[]
}

// ---------------------------------------------------------------------------------------------
// Errors

export interface ConfigProblem {
  variable: string
  message: string
}

/** One or more malformed or missing settings; every message names its variable. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly problems: ConfigProblem[]

  constructor(problems: ConfigProblem[]) {
    super(
      problems.length === 1
        ? problems[0].message
        : `invalid configuration:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
    )
    this.problems = problems
  }

  get variables(): string[] {
    return this.problems.map((p) => p.variable)
  }
}

// ---------------------------------------------------------------------------------------------
// Known variables

// Values of these are never put in a message.
const SECRET_VARIABLES = new Set([
  'PDS_JWT_SECRET',
  'PDS_ADMIN_PASSWORD',
  'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX',
  'PDS_DPOP_SECRET',
  'PDS_RATE_LIMIT_BYPASS_KEY',
  'PDS_EMAIL_SMTP_URL',
  'PDS_MODERATION_EMAIL_SMTP_URL',
  'PDS_HCAPTCHA_SECRET_KEY',
  'PDS_HCAPTCHA_TOKEN_SALT',
  'PDS_ENTRYWAY_ADMIN_TOKEN',
  'PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY',
  'PDS_REDIS_SCRATCH_PASSWORD',
  'PDS_REPO_SIGNING_KEY_K256_PRIVATE_KEY_HEX',
])

// Official variables Hearth reads but does not act on (yet): reported, never fatal.
const UNSUPPORTED: Record<string, string> = {
  PDS_BLOBSTORE_S3_BUCKET: 'S3 blob storage is not supported yet; blobs are stored on disk',
  PDS_BLOBSTORE_S3_REGION: 'S3 blob storage is not supported yet',
  PDS_BLOBSTORE_S3_ENDPOINT: 'S3 blob storage is not supported yet',
  PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: 'S3 blob storage is not supported yet',
  PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'S3 blob storage is not supported yet',
  PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 'S3 blob storage is not supported yet',
  PDS_BLOBSTORE_S3_UPLOAD_TIMEOUT_MS: 'S3 blob storage is not supported yet',
  PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: 'S3 blob storage is not supported yet',
  PDS_PLC_ROTATION_KEY_KMS_KEY_ID:
    'KMS rotation keys are not supported; set PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX',
  PDS_ENTRYWAY_URL: 'the entryway topology is not supported',
  PDS_ENTRYWAY_DID: 'the entryway topology is not supported',
  PDS_ENTRYWAY_JWT_VERIFY_KEY_K256_PUBLIC_KEY_HEX: 'the entryway topology is not supported',
  PDS_ENTRYWAY_PLC_ROTATION_KEY: 'the entryway topology is not supported',
  PDS_ENTRYWAY_ADMIN_TOKEN: 'the entryway topology is not supported',
  PDS_REDIS_SCRATCH_ADDRESS: 'Redis is not used; rate limits and caches are kept in memory',
  PDS_REDIS_SCRATCH_PASSWORD: 'Redis is not used; rate limits and caches are kept in memory',
  PDS_REPO_SIGNING_KEY_K256_PRIVATE_KEY_HEX:
    'no longer read by the official PDS either: every account has its own signing key',
}

const BRANDING_COLORS = ['PRIMARY', 'ERROR', 'WARNING', 'SUCCESS', 'INFO', 'LIGHT', 'DARK'] as const

/** Hearth's own variables, including those read by lower layers at load time. */
export const HEARTH_VARIABLES: readonly string[] = [
  'HEARTH_BLOB_GC_GRACE_MS',
  'HEARTH_LOCAL_PLC',
  'HEARTH_LOCAL_PLC_DB_LOCATION',
  'HEARTH_VALIDATE_RESPONSES',
  'HEARTH_SHUTDOWN_TIMEOUT_MS',
  'HEARTH_CRYPTO_BACKEND', // src/repo/crypto/curve.ts
  'HEARTH_SQLITE_SYNCHRONOUS', // src/storage/sqlite.ts
  'HEARTH_LISTEN_HOST', // src/cli/main.ts
]

// ---------------------------------------------------------------------------------------------
// Reading values

type Env = Record<string, string | undefined>

class EnvReader {
  readonly problems: ConfigProblem[] = []
  readonly read = new Set<string>()

  constructor(readonly env: Env) {}

  /** A non-empty string, or undefined (unset and empty are the same, as in the official PDS). */
  str(name: string): string | undefined {
    this.read.add(name)
    const value = this.env[name]
    if (value === undefined) return undefined
    const trimmed = value.trim()
    return trimmed.length === 0 ? undefined : trimmed
  }

  /** A secret, kept exactly as written (no trimming: a password may end in a space). */
  secret(name: string): string | undefined {
    this.read.add(name)
    const value = this.env[name]
    return value === undefined || value.length === 0 ? undefined : value
  }

  fail(name: string, message: string): undefined {
    this.problems.push({ variable: name, message })
    return undefined
  }

  /** `got "<value>"` for ordinary variables; nothing for secrets. */
  shown(name: string): string {
    if (SECRET_VARIABLES.has(name)) return ''
    const value = this.env[name] ?? ''
    const cut = value.length > 100 ? `${value.slice(0, 100)}…` : value
    return ` (got ${JSON.stringify(cut)})`
  }

  int(name: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    const min = opts.min ?? 0
    const max = opts.max ?? Number.MAX_SAFE_INTEGER
    if (!/^-?\d+$/.test(raw)) return this.fail(name, `${name} must be an integer${this.shown(name)}`)
    const n = Number(raw)
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      return this.fail(name, `${name} must be an integer from ${min} to ${max}${this.shown(name)}`)
    }
    return n
  }

  bool(name: string, accepted: { t: string[]; f: string[] } = { t: ['true', '1'], f: ['false', '0'] }): boolean | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    const lower = raw.toLowerCase()
    if (accepted.t.includes(lower)) return true
    if (accepted.f.includes(lower)) return false
    return this.fail(name, `${name} must be true or false (or 1 or 0)${this.shown(name)}`)
  }

  list(name: string): string[] {
    const raw = this.str(name)
    if (raw === undefined) return []
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
  }

  url(name: string, protocols: string[] = ['http:', 'https:']): string | undefined {
    const raw = SECRET_VARIABLES.has(name) ? this.secret(name)?.trim() : this.str(name)
    if (raw === undefined) return undefined
    return this.checkUrl(name, raw, protocols)
  }

  checkUrl(name: string, raw: string, protocols: string[]): string | undefined {
    let parsed: URL
    try {
      parsed = new URL(raw)
    } catch {
      return this.fail(name, `${name} must be a URL${this.shown(name)}`)
    }
    if (!protocols.includes(parsed.protocol)) {
      return this.fail(name, `${name} must be a ${protocols.map((p) => p.slice(0, -1)).join(' or ')} URL${this.shown(name)}`)
    }
    return raw
  }

  did(name: string): string | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    if (!isValidDid(raw)) return this.fail(name, `${name} must be a DID${this.shown(name)}`)
    return raw
  }
}

// ---------------------------------------------------------------------------------------------
// .env

/**
 * Parses a .env file: `KEY=value` lines, optional `export `, `#` comments, single-quoted
 * (literal), double-quoted (with \n \r \t \\ \" escapes, may span lines) or bare values
 * (a ` #` starts a comment). Lines that are not assignments are ignored.
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s?(.*)$/.exec(line)
    if (!m) continue
    const key = m[1]
    let rest = m[2].trimStart()
    const quote = rest[0]
    if (quote === '"' || quote === "'" || quote === '`') {
      let body = rest.slice(1)
      let end = findClosingQuote(body, quote)
      // Quoted values may span lines.
      while (end === -1 && i + 1 < lines.length) {
        i++
        body += '\n' + lines[i]
        end = findClosingQuote(body, quote)
      }
      if (end === -1) continue // unterminated: ignore the assignment
      const raw = body.slice(0, end)
      out[key] = quote === '"' ? unescapeDouble(raw) : raw
    } else {
      const hash = rest.search(/\s#/)
      if (hash !== -1) rest = rest.slice(0, hash)
      else if (rest.startsWith('#')) rest = ''
      out[key] = rest.trim()
    }
  }
  return out
}

function findClosingQuote(s: string, quote: string): number {
  for (let i = 0; i < s.length; i++) {
    if (quote === '"' && s[i] === '\\') {
      i++
      continue
    }
    if (s[i] === quote) return i
  }
  return -1
}

function unescapeDouble(s: string): string {
  return s.replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' })[c] ?? c)
}

/** The environment with `<cwd>/.env` underneath it: a variable set in the real environment wins. */
export function environmentWithDotenv(env: NodeJS.ProcessEnv, cwd: string): Env {
  const file = path.join(cwd, '.env')
  if (!existsSync(file)) return { ...env }
  const fromFile = parseDotenv(readFileSync(file, 'utf8'))
  const merged: Env = { ...fromFile }
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value
  return merged
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadConfigOptions {
  /** Directory relative paths and the .env file are resolved against (process.cwd()). */
  cwd?: string
  /** Read `<cwd>/.env` (true). */
  dotenv?: boolean
}

const HOSTNAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/i

/**
 * Reads the configuration. Throws a ConfigError naming every malformed or missing variable.
 * In local mode this may create the data directory and the secrets file.
 */
export function loadConfig(env: NodeJS.ProcessEnv, opts: LoadConfigOptions = {}): ServerConfig {
  const cwd = path.resolve(opts.cwd ?? process.cwd())
  const merged = opts.dotenv === false ? { ...env } : environmentWithDotenv(env, cwd)
  const r = new EnvReader(merged)
  const warnings: string[] = []

  // --- service
  const port = r.int('PDS_PORT', { min: 0, max: 65535 }) ?? DEFAULT_PORT
  let hostname = r.str('PDS_HOSTNAME') ?? 'localhost'
  if (!HOSTNAME_RE.test(hostname)) {
    r.fail('PDS_HOSTNAME', `PDS_HOSTNAME must be a bare host name such as pds.example.com (no scheme, no path)${r.shown('PDS_HOSTNAME')}`)
    hostname = 'localhost'
  }
  hostname = hostname.toLowerCase()
  const localMode = hostname === 'localhost'
  const publicUrl = localMode ? `http://localhost:${port}` : `https://${hostname}`
  // did:web encodes a port as %3A (the official PDS does not: `did:web:host:port` would name a path).
  const serviceDid = r.did('PDS_SERVICE_DID') ?? `did:web:${hostname.replace(':', '%3A')}`
  const hostOnly = hostname.replace(/:\d+$/, '')
  const serviceName = r.str('PDS_SERVICE_NAME') ?? `${hostname} PDS`
  const version = r.str('PDS_VERSION') ?? hearthVersion()
  const homeUrl = r.url('PDS_HOME_URL') ?? null
  const logoUrl = r.url('PDS_LOGO_URL') ?? null
  const supportUrl = r.url('PDS_SUPPORT_URL') ?? null
  const privacyPolicyUrl = r.url('PDS_PRIVACY_POLICY_URL') ?? null
  const termsOfServiceUrl = r.url('PDS_TERMS_OF_SERVICE_URL') ?? null
  const contactEmailAddress = emailAddress(r, 'PDS_CONTACT_EMAIL_ADDRESS') ?? null
  const devMode = r.bool('PDS_DEV_MODE') ?? false
  const service: ServiceConfig = {
    port,
    hostname,
    publicUrl,
    did: serviceDid,
    name: serviceName,
    version,
    localMode,
    homeUrl,
    logoUrl,
    supportUrl,
    privacyPolicyUrl,
    termsOfServiceUrl,
    contactEmailAddress,
    acceptingImports: r.bool('PDS_ACCEPTING_REPO_IMPORTS') ?? true,
    maxImportSize: r.int('PDS_MAX_REPO_IMPORT_SIZE', { min: 1 }) ?? null,
    blobUploadLimit: r.int('PDS_BLOB_UPLOAD_LIMIT', { min: 1 }) ?? 5 * 1024 * 1024,
    devMode,
    emailDisableConfirmationLink: r.bool('PDS_EMAIL_DISABLE_CONFIRMATION_LINK') ?? false,
  }

  // --- storage
  const dataDirectory = path.resolve(cwd, r.str('PDS_DATA_DIRECTORY') ?? 'data')
  const inData = (name: string) => path.join(dataDirectory, name)
  const loc = (name: string, fallback: string) => {
    const v = r.str(name)
    return v === undefined ? fallback : path.resolve(cwd, v)
  }
  const disableWalAutoCheckpoint = r.bool('PDS_SQLITE_DISABLE_WAL_AUTO_CHECKPOINT') ?? false
  const db: DatabaseConfig = {
    dataDirectory,
    accountDbLocation: loc('PDS_ACCOUNT_DB_LOCATION', inData('account.sqlite')),
    sequencerDbLocation: loc('PDS_SEQUENCER_DB_LOCATION', inData('sequencer.sqlite')),
    didCacheDbLocation: loc('PDS_DID_CACHE_DB_LOCATION', inData('did_cache.sqlite')),
    disableWalAutoCheckpoint,
  }
  const actorStore: ActorStoreConfig = {
    directory: loc('PDS_ACTOR_STORE_DIRECTORY', inData('actors')),
    cacheSize: r.int('PDS_ACTOR_STORE_CACHE_SIZE', { min: 1 }) ?? 100,
  }
  const blobLocation = loc('PDS_BLOBSTORE_DISK_LOCATION', inData('blocks'))
  const blobstore: BlobstoreConfig = {
    provider: 'disk',
    location: blobLocation,
    tempLocation: loc('PDS_BLOBSTORE_DISK_TMP_LOCATION', path.join(blobLocation, 'tempt')),
    quarantineLocation: path.join(blobLocation, 'quarantine'),
  }

  // --- identity
  let serviceHandleDomains = r.list('PDS_SERVICE_HANDLE_DOMAINS')
  if (serviceHandleDomains.length === 0) serviceHandleDomains = localMode ? ['.test'] : [`.${hostOnly}`]
  for (const domain of serviceHandleDomains) {
    if (!domain.startsWith('.') || domain.length < 2) {
      r.fail('PDS_SERVICE_HANDLE_DOMAINS', `PDS_SERVICE_HANDLE_DOMAINS: every domain must start with '.' (got ${JSON.stringify(domain)})`)
      break
    }
  }
  const explicitPlcUrl = r.url('PDS_DID_PLC_URL')
  const localPlcSetting = r.bool('HEARTH_LOCAL_PLC')
  let localPlc: boolean
  if (merged.PDS_DID_PLC_URL?.trim()) {
    localPlc = false
    if (localPlcSetting === true) {
      warnings.push('HEARTH_LOCAL_PLC=true is ignored because PDS_DID_PLC_URL is set')
    }
  } else {
    localPlc = localPlcSetting ?? localMode
  }
  const plcUrl = localPlc ? `${publicUrl}${LOCAL_PLC_PATH}` : (explicitPlcUrl ?? DEFAULT_PLC_URL)
  let recoveryDidKey = r.str('PDS_RECOVERY_DID_KEY') ?? null
  if (recoveryDidKey !== null) {
    try {
      parseDidKey(recoveryDidKey)
    } catch {
      r.fail('PDS_RECOVERY_DID_KEY', `PDS_RECOVERY_DID_KEY must be a did:key of a secp256k1 or P-256 key${r.shown('PDS_RECOVERY_DID_KEY')}`)
      recoveryDidKey = null
    }
  }
  const identity: IdentityConfig = {
    plcUrl,
    localPlc,
    localPlcPath: localPlc ? LOCAL_PLC_PATH : null,
    localPlcDbLocation: loc('HEARTH_LOCAL_PLC_DB_LOCATION', inData('plc.sqlite')),
    cacheStaleTtlMs: r.int('PDS_DID_CACHE_STALE_TTL') ?? HOUR,
    cacheMaxTtlMs: r.int('PDS_DID_CACHE_MAX_TTL') ?? DAY,
    resolverTimeoutMs: r.int('PDS_ID_RESOLVER_TIMEOUT', { min: 1 }) ?? 3 * SECOND,
    recoveryDidKey,
    serviceHandleDomains,
    handleBackupNameservers: r.list('PDS_HANDLE_BACKUP_NAMESERVERS'),
    enableDidDocWithSession: r.bool('PDS_ENABLE_DID_DOC_WITH_SESSION') ?? false,
  }

  // --- invites (required unless explicitly false)
  const inviteRequired = r.bool('PDS_INVITE_REQUIRED')
  const inviteInterval = r.int('PDS_INVITE_INTERVAL', { min: 1 })
  const inviteEpoch = r.int('PDS_INVITE_EPOCH')
  const invites: InvitesConfig =
    inviteRequired === false
      ? { required: false, interval: null, epoch: 0 }
      : { required: true, interval: inviteInterval ?? null, epoch: inviteEpoch ?? 0 }

  // --- email
  const email = emailPair(r, 'PDS_EMAIL_SMTP_URL', 'PDS_EMAIL_FROM_ADDRESS')
  const moderationEmail = emailPair(r, 'PDS_MODERATION_EMAIL_SMTP_URL', 'PDS_MODERATION_EMAIL_ADDRESS')
  // Printed at start whatever the log settings: without it, users cannot confirm an email,
  // reset a password or move their account, and the API does not say so (as official).
  if (email === null && !localMode) {
    warnings.push(
      'PDS_EMAIL_SMTP_URL / PDS_EMAIL_FROM_ADDRESS are not set: account emails (confirmation, password reset, account deletion and PLC operation codes) are not sent',
    )
  }

  // --- upstream services
  const bskyPair = servicePair(r, warnings, 'PDS_BSKY_APP_VIEW_URL', 'PDS_BSKY_APP_VIEW_DID')
  const cdnUrlPattern = r.str('PDS_BSKY_APP_VIEW_CDN_URL_PATTERN') ?? null
  const bskyAppView: AppViewConfig | null = bskyPair ? { ...bskyPair, cdnUrlPattern } : null
  const modService = servicePair(r, warnings, 'PDS_MOD_SERVICE_URL', 'PDS_MOD_SERVICE_DID')
  const reportService = servicePair(r, warnings, 'PDS_REPORT_SERVICE_URL', 'PDS_REPORT_SERVICE_DID') ?? modService

  // --- rate limits
  const rateLimitsEnabled = r.bool('PDS_RATE_LIMITS_ENABLED') ?? false
  const bypassKey = r.secret('PDS_RATE_LIMIT_BYPASS_KEY') ?? null
  const bypassIps = r.list('PDS_RATE_LIMIT_BYPASS_IPS')
  for (const entry of bypassIps) {
    if (!isIpOrCidr(entry)) {
      r.fail('PDS_RATE_LIMIT_BYPASS_IPS', `PDS_RATE_LIMIT_BYPASS_IPS: ${JSON.stringify(entry)} is not an IP address or CIDR range`)
      break
    }
  }
  const rateLimits: RateLimitsConfig = { enabled: rateLimitsEnabled, bypassKey, bypassIps }

  // --- crawlers
  const crawlers = r.list('PDS_CRAWLERS')
  const badCrawler = crawlers.find((crawler) => !isHttpUrl(crawler))
  if (badCrawler !== undefined) r.fail('PDS_CRAWLERS', `PDS_CRAWLERS: ${JSON.stringify(badCrawler)} is not an http(s) URL`)

  // --- outbound fetches and the proxy
  const disableSsrfProtection = r.bool('PDS_DISABLE_SSRF_PROTECTION') ?? devMode
  const fetch: FetchConfig = {
    disableSsrfProtection,
    maxResponseSize: r.int('PDS_FETCH_MAX_RESPONSE_SIZE', { min: 1 }) ?? 512 * 1024,
  }
  const maxRetries = r.int('PDS_PROXY_MAX_RETRIES') ?? 0
  const proxy: ProxyConfig = {
    disableSsrfProtection,
    allowHttp2: r.bool('PDS_PROXY_ALLOW_HTTP2') ?? false,
    headersTimeoutMs: r.int('PDS_PROXY_HEADERS_TIMEOUT', { min: 1 }) ?? 10 * SECOND,
    bodyTimeoutMs: r.int('PDS_PROXY_BODY_TIMEOUT', { min: 1 }) ?? 30 * SECOND,
    maxResponseSize: r.int('PDS_PROXY_MAX_RESPONSE_SIZE', { min: 1 }) ?? 10 * 1024 * 1024,
    maxRetries,
    preferCompressed: r.bool('PDS_PROXY_PREFER_COMPRESSED') ?? false,
  }

  // --- OAuth provider and its branding
  const colors: Record<string, string | number> = {}
  for (const color of BRANDING_COLORS) {
    const base = color.toLowerCase()
    const value = r.str(`PDS_${color}_COLOR`)
    if (value !== undefined) colors[base] = value
    const contrast = r.str(`PDS_${color}_COLOR_CONTRAST`)
    if (contrast !== undefined) colors[`${base}Contrast`] = contrast
    const hue = r.int(`PDS_${color}_COLOR_HUE`, { min: 0, max: 360 })
    if (hue !== undefined) colors[`${base}Hue`] = hue
  }
  r.read.add('PDS_CONTRAST_SATURATION')
  const backgroundLight = r.url('PDS_BACKGROUND_LIGHT_URL')
  if (backgroundLight) colors.backgroundLightUrl = backgroundLight
  const backgroundDark = r.url('PDS_BACKGROUND_DARK_URL')
  if (backgroundDark) colors.backgroundDarkUrl = backgroundDark
  const oauth: OAuthConfig = {
    issuer: publicUrl,
    trustedClients: r.list('PDS_OAUTH_TRUSTED_CLIENTS'),
    branding: { name: serviceName, logoUrl, homeUrl, supportUrl, privacyPolicyUrl, termsOfServiceUrl, colors },
  }

  const lexiconAuthority = r.did('PDS_LEXICON_AUTHORITY_DID') ?? null

  // --- logging (the official logger's variables)
  const logLevelRaw = r.str('LOG_LEVEL')?.toLowerCase()
  let logLevel: LogLevel = 'info'
  if (logLevelRaw !== undefined) {
    if (isLogLevel(logLevelRaw)) logLevel = logLevelRaw
    else r.fail('LOG_LEVEL', `LOG_LEVEL must be one of trace, debug, info, warn, error, fatal${r.shown('LOG_LEVEL')}`)
  }
  const log: LogConfig = {
    enabled: r.bool('LOG_ENABLED', { t: ['true', 't', '1'], f: ['false', 'f', '0'] }) ?? false,
    level: logLevel,
    systems: (r.str('LOG_SYSTEMS') ?? '').split(/[\s,]+/).filter(Boolean),
    destination: r.str('LOG_DESTINATION') ? path.resolve(cwd, r.str('LOG_DESTINATION') as string) : null,
  }

  // --- Hearth's extras
  const hearth: HearthConfig = {
    blobGcGraceMs: r.int('HEARTH_BLOB_GC_GRACE_MS') ?? DAY,
    validateResponses: r.bool('HEARTH_VALIDATE_RESPONSES') ?? devMode,
    shutdownTimeoutMs: r.int('HEARTH_SHUTDOWN_TIMEOUT_MS') ?? 10 * SECOND,
  }

  const subscription = {
    maxBuffer: r.int('PDS_MAX_SUBSCRIPTION_BUFFER', { min: 1 }) ?? 500,
    repoBackfillLimitMs: r.int('PDS_REPO_BACKFILL_LIMIT_MS') ?? DAY,
  }

  // --- secrets
  const secrets = readSecrets(r, { localMode, dataDirectory })

  // --- what was set but means nothing to Hearth
  for (const name of Object.keys(UNSUPPORTED)) r.read.add(name)
  for (const name of HEARTH_VARIABLES) r.read.add(name)
  for (const [name, value] of Object.entries(merged)) {
    if (value === undefined || value.trim() === '') continue
    if (Object.hasOwn(UNSUPPORTED, name)) warnings.push(`${name} is not supported by Hearth and is ignored: ${UNSUPPORTED[name]}`)
    else if ((name.startsWith('PDS_') || name.startsWith('HEARTH_')) && !r.read.has(name)) {
      warnings.push(`${name} is not a setting Hearth knows; it is ignored`)
    }
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems)
  if (secrets === null) throw new Error('unreachable: secrets missing without a reported problem')

  return {
    service,
    db,
    actorStore,
    blobstore,
    identity,
    invites,
    email,
    moderationEmail,
    subscription,
    bskyAppView,
    modService,
    reportService,
    rateLimits,
    crawlers,
    fetch,
    proxy,
    oauth,
    lexicon: { didAuthority: lexiconAuthority },
    log,
    hearth,
    secrets: redactedWhenShown(secrets),
    warnings,
  }
}

/**
 * The config of a server that listened on PDS_PORT=0 and got `port`: in local mode the public
 * URL (and so the local PLC URL and OAuth issuer) carry the port.
 */
export function withListenPort(cfg: ServerConfig, port: number): ServerConfig {
  const service = { ...cfg.service, port }
  if (service.localMode) service.publicUrl = `http://localhost:${port}`
  const identity = { ...cfg.identity }
  if (identity.localPlc) identity.plcUrl = `${service.publicUrl}${LOCAL_PLC_PATH}`
  return { ...cfg, service, identity, oauth: { ...cfg.oauth, issuer: service.publicUrl } }
}

// The values stay ordinary properties (spreading a config keeps them); only their display hides.
function redactedWhenShown<T extends object>(obj: T): T {
  Object.defineProperty(obj, 'toJSON', { value: () => '[redacted]', enumerable: false })
  Object.defineProperty(obj, inspect.custom, { value: () => '[redacted]', enumerable: false })
  return obj
}

function isHttpUrl(raw: string): boolean {
  try {
    const { protocol } = new URL(raw)
    return protocol === 'http:' || protocol === 'https:'
  } catch {
    return false
  }
}

function emailAddress(r: EnvReader, name: string): string | undefined {
  const raw = r.str(name)
  if (raw === undefined) return undefined
  // A display-name form ("Name <a@b>") is what nodemailer accepts for the sender too.
  const bare = /<([^<>]+)>\s*$/.exec(raw)?.[1] ?? raw
  if (!/^[^\s@]+@[^\s@]+$/.test(bare)) return r.fail(name, `${name} must be an email address${r.shown(name)}`)
  return raw
}

function emailPair(r: EnvReader, urlVar: string, fromVar: string): EmailConfig | null {
  const smtpUrl = r.url(urlVar, ['smtp:', 'smtps:'])
  const fromAddress = emailAddress(r, fromVar)
  const urlSet = r.env[urlVar]?.trim()
  const fromSet = r.env[fromVar]?.trim()
  if (!urlSet && !fromSet) return null
  if (!urlSet) return r.fail(urlVar, `${urlVar} must be set together with ${fromVar}`) ?? null
  if (!fromSet) return r.fail(fromVar, `${fromVar} must be set together with ${urlVar}`) ?? null
  if (smtpUrl === undefined || fromAddress === undefined) return null
  return { smtpUrl, fromAddress }
}

function servicePair(r: EnvReader, warnings: string[], urlVar: string, didVar: string): ServiceEndpointConfig | null {
  const url = r.url(urlVar)
  const did = r.did(didVar)
  const urlSet = Boolean(r.env[urlVar]?.trim())
  const didSet = Boolean(r.env[didVar]?.trim())
  if (!urlSet) {
    if (didSet) warnings.push(`${didVar} is ignored because ${urlVar} is not set`)
    return null
  }
  if (!didSet) return r.fail(didVar, `${didVar} must be set when ${urlVar} is set`) ?? null
  if (url === undefined || did === undefined) return null
  return { url, did }
}

function isIpOrCidr(entry: string): boolean {
  const [addr, bits, extra] = entry.split('/')
  if (extra !== undefined) return false
  const family = isIP(addr)
  if (family === 0) return false
  if (bits === undefined) return true
  if (!/^\d{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}


// ---------------------------------------------------------------------------------------------
// Secrets

const GENERATED_SECRETS = ['PDS_JWT_SECRET', 'PDS_ADMIN_PASSWORD', 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'] as const
type GeneratedSecret = (typeof GENERATED_SECRETS)[number]

function validRotationKey(hex: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false
  try {
    Secp256k1Keypair.import(hex.toLowerCase())
    return true
  } catch {
    return false
  }
}

function generateSecret(name: GeneratedSecret): string {
  switch (name) {
    case 'PDS_JWT_SECRET':
      return randomBytes(32).toString('hex')
    case 'PDS_ADMIN_PASSWORD':
      return randomBytes(16).toString('hex')
    case 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX':
      return Buffer.from(randomSecp256k1PrivateKey()).toString('hex')
  }
}

function readSecrets(r: EnvReader, opts: { localMode: boolean; dataDirectory: string }): SecretsConfig | null {
  const values: Partial<Record<GeneratedSecret, string>> = {}
  for (const name of GENERATED_SECRETS) {
    const value = r.secret(name)
    if (value !== undefined) values[name] = value
  }
  const rotation = values.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX
  if (rotation !== undefined && !validRotationKey(rotation.trim())) {
    r.fail(
      'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX',
      'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX must be 64 hex digits: a secp256k1 private key',
    )
  }
  if (rotation !== undefined) values.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX = rotation.trim().toLowerCase()

  const dpopSecret = r.secret('PDS_DPOP_SECRET') ?? null
  const siteKey = r.str('PDS_HCAPTCHA_SITE_KEY')
  const secretKey = r.secret('PDS_HCAPTCHA_SECRET_KEY')
  const tokenSalt = r.secret('PDS_HCAPTCHA_TOKEN_SALT')
  const hcaptcha = siteKey && secretKey && tokenSalt ? { siteKey, secretKey, tokenSalt } : null

  const missing = GENERATED_SECRETS.filter((name) => values[name] === undefined)
  let generated: string[] = []
  let file: string | null = null
  if (missing.length > 0) {
    if (!opts.localMode) {
      for (const name of missing) r.fail(name, `${name} is required when PDS_HOSTNAME is not localhost`)
      return null
    }
    if (r.problems.length > 0) return null // do not write files for a config that will be refused
    file = path.join(opts.dataDirectory, SECRETS_FILE_NAME)
    try {
      generated = fillFromSecretsFile(file, missing, values)
    } catch (err) {
      r.fail('PDS_DATA_DIRECTORY', `the local secrets file ${file} could not be used: ${(err as Error).message}`)
      return null
    }
  }
  if (r.problems.length > 0) return null
  return {
    jwtSecret: values.PDS_JWT_SECRET as string,
    adminPassword: values.PDS_ADMIN_PASSWORD as string,
    plcRotationKeyK256PrivateKeyHex: values.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX as string,
    dpopSecret,
    hcaptcha,
    generated,
    file,
  }
}

/**
 * Takes the missing secrets from the local secrets file, generating (and saving) any the file
 * does not hold yet. Returns the names generated on this call. Only the missing ones are ever
 * written: a secret given in the environment is not copied to disk.
 */
function fillFromSecretsFile(file: string, missing: GeneratedSecret[], values: Partial<Record<GeneratedSecret, string>>): string[] {
  let stored: Record<string, unknown> = {}
  if (existsSync(file)) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      throw new Error('it is not valid JSON (delete it to generate new secrets)')
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('it is not a JSON object (delete it to generate new secrets)')
    }
    stored = parsed as Record<string, unknown>
    // Keep it private even if someone loosened it.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  }
  const generated: string[] = []
  for (const name of missing) {
    const value = stored[name]
    const usable =
      typeof value === 'string' &&
      value.length > 0 &&
      (name !== 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX' || validRotationKey(value))
    if (usable) {
      values[name] = value
    } else {
      values[name] = generateSecret(name)
      stored[name] = values[name]
      generated.push(name)
    }
  }
  if (generated.length > 0) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
  }
  return generated
}
