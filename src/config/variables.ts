// The variables Hearth knows about beyond those it reads: secrets (never shown), official ones it
// does not act on (reported), and its own.

// ---------------------------------------------------------------------------------------------
// Known variables

// Values of these are never put in a message.
export const SECRET_VARIABLES = new Set([
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
  'HEARTH_BACKUP_S3_SECRET_ACCESS_KEY',
  'PDS_REDIS_SCRATCH_PASSWORD',
  'PDS_REPO_SIGNING_KEY_K256_PRIVATE_KEY_HEX',
])

// Official variables Hearth reads but does not act on (yet): reported, never fatal.
export const UNSUPPORTED: Record<string, string> = {
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

export const BRANDING_COLORS = ['PRIMARY', 'ERROR', 'WARNING', 'SUCCESS', 'INFO', 'LIGHT', 'DARK'] as const

/** Hearth's own variables, including those read by lower layers at load time. */
export const HEARTH_VARIABLES: readonly string[] = [
  'HEARTH_BLOB_GC_GRACE_MS',
  'HEARTH_LOCAL_PLC',
  'HEARTH_LOCAL_PLC_DB_LOCATION',
  'HEARTH_VALIDATE_RESPONSES',
  'HEARTH_SHUTDOWN_TIMEOUT_MS',
  'HEARTH_STREAM_STALL_MS',
  'HEARTH_CRYPTO_BACKEND', // src/repo/crypto/curve.ts
  'HEARTH_SQLITE_SYNCHRONOUS', // src/storage/sqlite.ts
  'HEARTH_LISTEN_HOST', // src/cli/main.ts
  // hearth backup / restore to a bucket (src/admin/s3-backup.ts, src/cli/data-commands.ts)
  'HEARTH_BACKUP_S3_ENDPOINT',
  'HEARTH_BACKUP_S3_REGION',
  'HEARTH_BACKUP_S3_FORCE_PATH_STYLE',
  'HEARTH_BACKUP_S3_ACCESS_KEY_ID',
  'HEARTH_BACKUP_S3_SECRET_ACCESS_KEY',
  'HEARTH_BACKUP_EVERY',
  'HEARTH_BACKUP_KEEP',
  'HEARTH_BACKUP_DESTINATION', // where the dashboard's "start a backup" writes
  'HEARTH_ADMIN_DIDS', // accounts that may open the operator dashboard
]
