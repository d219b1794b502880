// The shape of the configuration: one interface per concern, the defaults that other layers
// share, and the error that names every malformed variable.
import type { LogConfig } from '../logger.ts'

export const SECOND = 1000
export const MINUTE = 60 * SECOND
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

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
  /** PDS_ACTOR_STORE_CACHE_SIZE (from the open-file limit: 100 to 2,500, see open-files.ts). */
  cacheSize: number
  /** HEARTH_REOPEN_STORES (true): reopen at start, in the background, the stores open at the last clean stop. */
  reopenAtStart: boolean
  /** HEARTH_MST_NODE_CACHE (10,000): decoded MST nodes kept for all accounts together. */
  mstNodeCache: number
}

export type BlobstoreConfig = DiskBlobstoreConfig | S3BlobstoreConfig

export interface DiskBlobstoreConfig {
  provider: 'disk'
  /** PDS_BLOBSTORE_DISK_LOCATION (Hearth: <data>/blocks). */
  location: string
  /** PDS_BLOBSTORE_DISK_TMP_LOCATION (<location>/tempt, the official's spelling). */
  tempLocation: string
  /** <location>/quarantine, as the official disk blobstore. */
  quarantineLocation: string
}

/** PDS_BLOBSTORE_S3_*: blobs in an S3-compatible bucket, in the official's key layout. */
export interface S3BlobstoreConfig {
  provider: 's3'
  /** PDS_BLOBSTORE_S3_BUCKET */
  bucket: string
  /** PDS_BLOBSTORE_S3_REGION; unset leaves it to the AWS SDK (AWS_REGION), as official. */
  region: string | undefined
  /** PDS_BLOBSTORE_S3_ENDPOINT (MinIO, R2, B2, Ceph…); unset means AWS. */
  endpoint: string | undefined
  /** PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: `<endpoint>/<bucket>/<key>` rather than a bucket host name. */
  forcePathStyle: boolean | undefined
  /** PDS_BLOBSTORE_S3_ACCESS_KEY_ID + _SECRET_ACCESS_KEY (both or neither); unset leaves it to the SDK. */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined
  /** PDS_BLOBSTORE_S3_UPLOAD_TIMEOUT_MS (20 s): the whole of one upload, as official. */
  uploadTimeoutMs: number
  /**
   * PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: how long one request's socket may sit idle before it
   * is abandoned (and retried by the SDK); default min(upload timeout, 15 s), at least 6 s, as
   * the official.
   */
  requestTimeoutMs: number
}

export interface IdentityConfig {
  /** PDS_DID_PLC_URL; `<publicUrl>` when the local directory is on (it also answers under `/plc`); else https://plc.directory. */
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
  /**
   * HEARTH_STREAM_STALL_MS (60 s): a streamed response (getRepo, getBlob, the account page's
   * downloads) whose client does not take its next chunk (64 KiB at most) within this long is cut
   * off, releasing what it held.
   */
  streamStallMs: number
  /** What the operator dashboard's "start a backup" uses. */
  backup: BackupConfig
  /** HEARTH_ADMIN_DIDS: accounts that may open the operator dashboard once signed in at /account. */
  adminDids: string[]
}

export interface BackupConfig {
  /**
   * HEARTH_BACKUP_DESTINATION: a directory (each backup a new `<UTC time>` folder inside it,
   * resolved from the working directory) or s3://bucket/prefix; null when unset.
   */
  destination: string | null
  /** HEARTH_BACKUP_KEEP: snapshots kept in a bucket after each backup; null keeps all. */
  keep: number | null
  /** HEARTH_BACKUP_EVERY as set (the schedule `hearth backup` runs), or null. */
  every: string | null
  /** The HEARTH_BACKUP_S3_* and PDS_BLOBSTORE_S3_* variables, to reach a bucket ("[redacted]" when shown). */
  s3Env: Record<string, string | undefined>
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
