// One reader per concern of the configuration, in the order the variables are read (so that
// the problems of a malformed environment are listed in a stable order).
import { isIP } from 'node:net'
import path from 'node:path'
import { isValidDid } from '../repo/syntax.ts'
import { isLogLevel, type LogConfig, type LogLevel } from '../logger.ts'
import { parseDidKey } from '../repo/crypto/did-key.ts'
import { hearthVersion } from '../version.ts'
import type { EnvReader } from './env.ts'
import { DEFAULT_MST_NODE_CACHE } from './memory.ts'
import { defaultActorStoreCacheSize } from './open-files.ts'
import {
  type ActorStoreConfig,
  type AppViewConfig,
  type BlobstoreConfig,
  type DatabaseConfig,
  DAY,
  DEFAULT_PLC_URL,
  DEFAULT_PORT,
  type EmailConfig,
  type FetchConfig,
  type HearthConfig,
  HOUR,
  type IdentityConfig,
  type InvitesConfig,
  LOCAL_PLC_PATH,
  type OAuthConfig,
  type ProxyConfig,
  type S3BlobstoreConfig,
  type RateLimitsConfig,
  SECOND,
  type ServerConfig,
  type ServiceConfig,
  type ServiceEndpointConfig,
} from './types.ts'
import { BRANDING_COLORS } from './variables.ts'

const HOSTNAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/i

/** A path variable resolved against `cwd`, or the fallback. */
function location(r: EnvReader, cwd: string, name: string, fallback: string): string {
  const v = r.str(name)
  return v === undefined ? fallback : path.resolve(cwd, v)
}

export function readService(r: EnvReader): ServiceConfig {
  const port = r.int('PDS_PORT', { min: 0, max: 65535 }) ?? DEFAULT_PORT
  let hostname = r.str('PDS_HOSTNAME') ?? 'localhost'
  if (!HOSTNAME_RE.test(hostname)) {
    r.fail('PDS_HOSTNAME', `PDS_HOSTNAME must be a bare host name such as pds.example.com (no scheme, no path)${r.shown('PDS_HOSTNAME')}`)
    hostname = 'localhost'
  }
  hostname = hostname.toLowerCase()
  const localMode = hostname === 'localhost'
  return {
    port,
    hostname,
    publicUrl: localMode ? `http://localhost:${port}` : `https://${hostname}`,
    // did:web encodes a port as %3A (the official PDS does not: `did:web:host:port` would name a path).
    did: r.did('PDS_SERVICE_DID') ?? `did:web:${hostname.replace(':', '%3A')}`,
    name: r.str('PDS_SERVICE_NAME') ?? `${hostname} PDS`,
    version: r.str('PDS_VERSION') ?? hearthVersion(),
    localMode,
    homeUrl: r.url('PDS_HOME_URL') ?? null,
    logoUrl: r.url('PDS_LOGO_URL') ?? null,
    supportUrl: r.url('PDS_SUPPORT_URL') ?? null,
    privacyPolicyUrl: r.url('PDS_PRIVACY_POLICY_URL') ?? null,
    termsOfServiceUrl: r.url('PDS_TERMS_OF_SERVICE_URL') ?? null,
    contactEmailAddress: emailAddress(r, 'PDS_CONTACT_EMAIL_ADDRESS') ?? null,
    devMode: r.bool('PDS_DEV_MODE') ?? false,
    acceptingImports: r.bool('PDS_ACCEPTING_REPO_IMPORTS') ?? true,
    maxImportSize: r.int('PDS_MAX_REPO_IMPORT_SIZE', { min: 1 }) ?? null,
    blobUploadLimit: r.int('PDS_BLOB_UPLOAD_LIMIT', { min: 1 }) ?? 5 * 1024 * 1024,
    emailDisableConfirmationLink: r.bool('PDS_EMAIL_DISABLE_CONFIRMATION_LINK') ?? false,
  }
}

export function readStorage(r: EnvReader, cwd: string): Pick<ServerConfig, 'db' | 'actorStore' | 'blobstore'> {
  const dataDirectory = path.resolve(cwd, r.str('PDS_DATA_DIRECTORY') ?? 'data')
  const inData = (name: string) => path.join(dataDirectory, name)
  const db: DatabaseConfig = {
    dataDirectory,
    accountDbLocation: location(r, cwd, 'PDS_ACCOUNT_DB_LOCATION', inData('account.sqlite')),
    sequencerDbLocation: location(r, cwd, 'PDS_SEQUENCER_DB_LOCATION', inData('sequencer.sqlite')),
    didCacheDbLocation: location(r, cwd, 'PDS_DID_CACHE_DB_LOCATION', inData('did_cache.sqlite')),
    disableWalAutoCheckpoint: r.bool('PDS_SQLITE_DISABLE_WAL_AUTO_CHECKPOINT') ?? false,
  }
  const actorStore: ActorStoreConfig = {
    directory: location(r, cwd, 'PDS_ACTOR_STORE_DIRECTORY', inData('actors')),
    cacheSize: r.int('PDS_ACTOR_STORE_CACHE_SIZE', { min: 1 }) ?? defaultActorStoreCacheSize(),
    reopenAtStart: r.bool('HEARTH_REOPEN_STORES') ?? true,
    mstNodeCache: r.int('HEARTH_MST_NODE_CACHE', { min: 0 }) ?? DEFAULT_MST_NODE_CACHE,
  }
  const blobLocation = location(r, cwd, 'PDS_BLOBSTORE_DISK_LOCATION', inData('blocks'))
  const s3 = readS3Blobstore(r)
  if (s3 && r.str('PDS_BLOBSTORE_DISK_LOCATION') !== undefined) {
    r.fail('PDS_BLOBSTORE_S3_BUCKET', 'Cannot set both S3 and disk blobstore env vars (PDS_BLOBSTORE_S3_BUCKET and PDS_BLOBSTORE_DISK_LOCATION)')
  }
  const blobstore: BlobstoreConfig = s3 ?? {
    provider: 'disk',
    location: blobLocation,
    tempLocation: location(r, cwd, 'PDS_BLOBSTORE_DISK_TMP_LOCATION', path.join(blobLocation, 'tempt')),
    quarantineLocation: path.join(blobLocation, 'quarantine'),
  }
  return { db, actorStore, blobstore }
}

// As the official's config: an S3 store when a bucket is named, both keys or neither, an upload
// timeout of 20 s; the request (stall) timeout as its newer releases derive it.
function readS3Blobstore(r: EnvReader): S3BlobstoreConfig | null {
  const bucket = r.str('PDS_BLOBSTORE_S3_BUCKET')
  const region = r.str('PDS_BLOBSTORE_S3_REGION')
  const endpoint = r.url('PDS_BLOBSTORE_S3_ENDPOINT')
  const forcePathStyle = r.bool('PDS_BLOBSTORE_S3_FORCE_PATH_STYLE')
  const accessKeyId = r.str('PDS_BLOBSTORE_S3_ACCESS_KEY_ID')
  const secretAccessKey = r.str('PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY')
  const uploadTimeoutMs = r.int('PDS_BLOBSTORE_S3_UPLOAD_TIMEOUT_MS', { min: 1 }) ?? 20 * SECOND
  const requestTimeoutMs =
    r.int('PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS', { min: 1 }) ?? Math.max(Math.min(uploadTimeoutMs, 15 * SECOND), 6 * SECOND)
  if (bucket === undefined) return null
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    r.fail(
      accessKeyId === undefined ? 'PDS_BLOBSTORE_S3_ACCESS_KEY_ID' : 'PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY',
      'Must specify both S3 access key id and secret access key blobstore env vars (PDS_BLOBSTORE_S3_ACCESS_KEY_ID, PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY)',
    )
  }
  return {
    provider: 's3',
    bucket,
    region,
    endpoint,
    forcePathStyle,
    credentials: accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey } : undefined,
    uploadTimeoutMs,
    requestTimeoutMs,
  }
}

export function readIdentity(r: EnvReader, cwd: string, service: ServiceConfig, dataDirectory: string, warnings: string[]): IdentityConfig {
  const hostOnly = service.hostname.replace(/:\d+$/, '')
  let serviceHandleDomains = r.list('PDS_SERVICE_HANDLE_DOMAINS')
  if (serviceHandleDomains.length === 0) serviceHandleDomains = service.localMode ? ['.test'] : [`.${hostOnly}`]
  for (const domain of serviceHandleDomains) {
    if (!domain.startsWith('.') || domain.length < 2) {
      r.fail('PDS_SERVICE_HANDLE_DOMAINS', `PDS_SERVICE_HANDLE_DOMAINS: every domain must start with '.' (got ${JSON.stringify(domain)})`)
      break
    }
  }
  const explicitPlcUrl = r.url('PDS_DID_PLC_URL')
  const localPlcSetting = r.bool('HEARTH_LOCAL_PLC')
  let localPlc: boolean
  if (r.env.PDS_DID_PLC_URL?.trim()) {
    localPlc = false
    if (localPlcSetting === true) {
      warnings.push('HEARTH_LOCAL_PLC=true is ignored because PDS_DID_PLC_URL is set')
    }
  } else {
    localPlc = localPlcSetting ?? service.localMode
  }
  // The local directory answers `/<did>` at the root, where standard clients look (see src/plc/).
  const plcUrl = localPlc ? service.publicUrl : (explicitPlcUrl ?? DEFAULT_PLC_URL)
  let recoveryDidKey = r.str('PDS_RECOVERY_DID_KEY') ?? null
  if (recoveryDidKey !== null) {
    try {
      parseDidKey(recoveryDidKey)
    } catch {
      r.fail('PDS_RECOVERY_DID_KEY', `PDS_RECOVERY_DID_KEY must be a did:key of a secp256k1 or P-256 key${r.shown('PDS_RECOVERY_DID_KEY')}`)
      recoveryDidKey = null
    }
  }
  return {
    plcUrl,
    localPlc,
    localPlcPath: localPlc ? LOCAL_PLC_PATH : null,
    localPlcDbLocation: location(r, cwd, 'HEARTH_LOCAL_PLC_DB_LOCATION', path.join(dataDirectory, 'plc.sqlite')),
    cacheStaleTtlMs: r.int('PDS_DID_CACHE_STALE_TTL') ?? HOUR,
    cacheMaxTtlMs: r.int('PDS_DID_CACHE_MAX_TTL') ?? DAY,
    resolverTimeoutMs: r.int('PDS_ID_RESOLVER_TIMEOUT', { min: 1 }) ?? 3 * SECOND,
    recoveryDidKey,
    serviceHandleDomains,
    handleBackupNameservers: r.list('PDS_HANDLE_BACKUP_NAMESERVERS'),
    enableDidDocWithSession: r.bool('PDS_ENABLE_DID_DOC_WITH_SESSION') ?? false,
  }
}

/** Invites are required unless PDS_INVITE_REQUIRED is explicitly false. */
export function readInvites(r: EnvReader): InvitesConfig {
  const inviteRequired = r.bool('PDS_INVITE_REQUIRED')
  const inviteInterval = r.int('PDS_INVITE_INTERVAL', { min: 1 })
  const inviteEpoch = r.int('PDS_INVITE_EPOCH')
  return inviteRequired === false
    ? { required: false, interval: null, epoch: 0 }
    : { required: true, interval: inviteInterval ?? null, epoch: inviteEpoch ?? 0 }
}

export function readEmail(r: EnvReader, localMode: boolean, warnings: string[]): Pick<ServerConfig, 'email' | 'moderationEmail'> {
  const email = emailPair(r, 'PDS_EMAIL_SMTP_URL', 'PDS_EMAIL_FROM_ADDRESS')
  const moderationEmail = emailPair(r, 'PDS_MODERATION_EMAIL_SMTP_URL', 'PDS_MODERATION_EMAIL_ADDRESS')
  // Printed at start whatever the log settings: without it, users cannot confirm an email,
  // reset a password or move their account, and the API does not say so (as official).
  if (email === null && !localMode) {
    warnings.push(
      'PDS_EMAIL_SMTP_URL / PDS_EMAIL_FROM_ADDRESS are not set: account emails (confirmation, password reset, account deletion and PLC operation codes) are not sent',
    )
  }
  return { email, moderationEmail }
}

export function readUpstreams(r: EnvReader, warnings: string[]): Pick<ServerConfig, 'bskyAppView' | 'modService' | 'reportService'> {
  const bskyPair = servicePair(r, warnings, 'PDS_BSKY_APP_VIEW_URL', 'PDS_BSKY_APP_VIEW_DID')
  const cdnUrlPattern = r.str('PDS_BSKY_APP_VIEW_CDN_URL_PATTERN') ?? null
  const bskyAppView: AppViewConfig | null = bskyPair ? { ...bskyPair, cdnUrlPattern } : null
  const modService = servicePair(r, warnings, 'PDS_MOD_SERVICE_URL', 'PDS_MOD_SERVICE_DID')
  const reportService = servicePair(r, warnings, 'PDS_REPORT_SERVICE_URL', 'PDS_REPORT_SERVICE_DID') ?? modService
  return { bskyAppView, modService, reportService }
}

export function readRateLimits(r: EnvReader): RateLimitsConfig {
  const enabled = r.bool('PDS_RATE_LIMITS_ENABLED') ?? false
  const bypassKey = r.secret('PDS_RATE_LIMIT_BYPASS_KEY') ?? null
  const bypassIps = r.list('PDS_RATE_LIMIT_BYPASS_IPS')
  for (const entry of bypassIps) {
    if (!isIpOrCidr(entry)) {
      r.fail('PDS_RATE_LIMIT_BYPASS_IPS', `PDS_RATE_LIMIT_BYPASS_IPS: ${JSON.stringify(entry)} is not an IP address or CIDR range`)
      break
    }
  }
  return { enabled, bypassKey, bypassIps }
}

export function readCrawlers(r: EnvReader): string[] {
  const crawlers = r.list('PDS_CRAWLERS')
  const badCrawler = crawlers.find((crawler) => !isHttpUrl(crawler))
  if (badCrawler !== undefined) r.fail('PDS_CRAWLERS', `PDS_CRAWLERS: ${JSON.stringify(badCrawler)} is not an http(s) URL`)
  return crawlers
}

/** Outbound fetches and the proxy. */
export function readOutbound(r: EnvReader, devMode: boolean): { fetch: FetchConfig; proxy: ProxyConfig } {
  const disableSsrfProtection = r.bool('PDS_DISABLE_SSRF_PROTECTION') ?? devMode
  const fetch: FetchConfig = {
    disableSsrfProtection,
    maxResponseSize: r.int('PDS_FETCH_MAX_RESPONSE_SIZE', { min: 1 }) ?? 512 * 1024,
  }
  const proxy: ProxyConfig = {
    disableSsrfProtection,
    allowHttp2: r.bool('PDS_PROXY_ALLOW_HTTP2') ?? false,
    headersTimeoutMs: r.int('PDS_PROXY_HEADERS_TIMEOUT', { min: 1 }) ?? 10 * SECOND,
    bodyTimeoutMs: r.int('PDS_PROXY_BODY_TIMEOUT', { min: 1 }) ?? 30 * SECOND,
    maxResponseSize: r.int('PDS_PROXY_MAX_RESPONSE_SIZE', { min: 1 }) ?? 10 * 1024 * 1024,
    maxRetries: r.int('PDS_PROXY_MAX_RETRIES') ?? 0,
    preferCompressed: r.bool('PDS_PROXY_PREFER_COMPRESSED') ?? false,
  }
  return { fetch, proxy }
}

/** The OAuth provider and its branding (the official's colour variables, kept as given). */
export function readOAuth(r: EnvReader, service: ServiceConfig): OAuthConfig {
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
  const { name, logoUrl, homeUrl, supportUrl, privacyPolicyUrl, termsOfServiceUrl } = service
  return {
    issuer: service.publicUrl,
    trustedClients: r.list('PDS_OAUTH_TRUSTED_CLIENTS'),
    branding: { name, logoUrl, homeUrl, supportUrl, privacyPolicyUrl, termsOfServiceUrl, colors },
  }
}

/**
 * The official logger's variables. Unlike the official (off unless LOG_ENABLED), logging is on by
 * default in production (`enabledByDefault`: a public hostname), so request logs exist when needed.
 */
export function readLog(r: EnvReader, cwd: string, enabledByDefault = false): LogConfig {
  const logLevelRaw = r.str('LOG_LEVEL')?.toLowerCase()
  let level: LogLevel = 'info'
  if (logLevelRaw !== undefined) {
    if (isLogLevel(logLevelRaw)) level = logLevelRaw
    else r.fail('LOG_LEVEL', `LOG_LEVEL must be one of trace, debug, info, warn, error, fatal${r.shown('LOG_LEVEL')}`)
  }
  const destination = r.str('LOG_DESTINATION')
  return {
    enabled: r.bool('LOG_ENABLED', { t: ['true', 't', '1'], f: ['false', 'f', '0'] }) ?? enabledByDefault,
    level,
    systems: (r.str('LOG_SYSTEMS') ?? '').split(/[\s,]+/).filter(Boolean),
    destination: destination ? path.resolve(cwd, destination) : null,
  }
}

export function readHearth(r: EnvReader, devMode: boolean, cwd: string): HearthConfig {
  return {
    blobGcGraceMs: r.int('HEARTH_BLOB_GC_GRACE_MS') ?? DAY,
    validateResponses: r.bool('HEARTH_VALIDATE_RESPONSES') ?? devMode,
    shutdownTimeoutMs: r.int('HEARTH_SHUTDOWN_TIMEOUT_MS') ?? 10 * SECOND,
    // At most what a timer can wait: Node fires a longer one after 1 ms.
    streamStallMs: r.int('HEARTH_STREAM_STALL_MS', { min: 1, max: 2 ** 31 - 1 }) ?? 60 * SECOND,
    backup: readBackup(r, cwd),
    adminDids: readAdminDids(r),
  }
}

function readAdminDids(r: EnvReader): string[] {
  const dids = r.list('HEARTH_ADMIN_DIDS')
  const bad = dids.filter((d) => !isValidDid(d))
  if (bad.length > 0) r.fail('HEARTH_ADMIN_DIDS', `HEARTH_ADMIN_DIDS must list DIDs, comma separated (not handles: they can change hands): ${bad.join(', ')}`)
  return dids
}

const BACKUP_S3_SETTINGS = ['ENDPOINT', 'REGION', 'FORCE_PATH_STYLE', 'ACCESS_KEY_ID', 'SECRET_ACCESS_KEY']

function readBackup(r: EnvReader, cwd: string): HearthConfig['backup'] {
  const raw = r.str('HEARTH_BACKUP_DESTINATION')
  let destination: string | null = null
  if (raw !== undefined) {
    if (raw.startsWith('s3://')) {
      if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(raw)) r.fail('HEARTH_BACKUP_DESTINATION', `HEARTH_BACKUP_DESTINATION must be a directory or s3://bucket/prefix${r.shown('HEARTH_BACKUP_DESTINATION')}`)
      destination = raw
    } else destination = path.resolve(cwd, raw)
  }
  const s3Env: Record<string, string | undefined> = {}
  for (const name of BACKUP_S3_SETTINGS) {
    for (const v of [`HEARTH_BACKUP_S3_${name}`, `PDS_BLOBSTORE_S3_${name}`]) {
      const value = r.str(v)
      if (value !== undefined) s3Env[v] = value
    }
  }
  return {
    destination,
    keep: r.int('HEARTH_BACKUP_KEEP', { min: 1 }) ?? null,
    every: r.str('HEARTH_BACKUP_EVERY') ?? null,
    s3Env,
  }
}

export function readSubscription(r: EnvReader): ServerConfig['subscription'] {
  return {
    maxBuffer: r.int('PDS_MAX_SUBSCRIPTION_BUFFER', { min: 1 }) ?? 500,
    repoBackfillLimitMs: r.int('PDS_REPO_BACKFILL_LIMIT_MS') ?? DAY,
  }
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
