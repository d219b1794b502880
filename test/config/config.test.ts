import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { inspect } from 'node:util'
import { ConfigError, loadConfig, parseDotenv, SECRETS_FILE_NAME, withListenPort } from '../../src/config/index.ts'
import { defaultActorStoreCacheSize } from '../../src/config/open-files.ts'

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hearth-config-'))
  dirs.push(dir)
  return dir
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const PROD_SECRETS = {
  PDS_JWT_SECRET: 'jwt-secret-value-0001',
  PDS_ADMIN_PASSWORD: 'admin-password-0001',
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: '9f2a2b8c4e7d1f3a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345',
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    return err
  }
  assert.fail('expected a ConfigError')
}

const pkgVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

test('no configuration: local mode on localhost:2583 with everything under ./data', () => {
  const cwd = tempDir()
  const cfg = loadConfig({}, { cwd })
  const data = path.join(cwd, 'data')
  assert.deepEqual(cfg.warnings, [])
  assert.equal(cfg.service.port, 2583)
  assert.equal(cfg.service.hostname, 'localhost')
  assert.equal(cfg.service.publicUrl, 'http://localhost:2583')
  assert.equal(cfg.service.did, 'did:web:localhost')
  assert.equal(cfg.service.name, 'localhost PDS')
  assert.equal(cfg.service.version, pkgVersion)
  assert.equal(cfg.service.localMode, true)
  assert.equal(cfg.service.blobUploadLimit, 5 * 1024 * 1024)
  assert.equal(cfg.service.maxImportSize, null)
  assert.equal(cfg.service.acceptingImports, true)
  assert.equal(cfg.service.devMode, false)
  assert.deepEqual(cfg.db, {
    dataDirectory: data,
    accountDbLocation: path.join(data, 'account.sqlite'),
    sequencerDbLocation: path.join(data, 'sequencer.sqlite'),
    didCacheDbLocation: path.join(data, 'did_cache.sqlite'),
    disableWalAutoCheckpoint: false,
  })
  assert.deepEqual(cfg.actorStore, { directory: path.join(data, 'actors'), cacheSize: defaultActorStoreCacheSize(), reopenAtStart: true, mstNodeCache: 10_000 })
  assert.equal(loadConfig({ HEARTH_REOPEN_STORES: '0' }, { cwd }).actorStore.reopenAtStart, false)
  assert.equal(loadConfig({ HEARTH_MST_NODE_CACHE: '500' }, { cwd }).actorStore.mstNodeCache, 500)
  assert.deepEqual(cfg.blobstore, {
    provider: 'disk',
    location: path.join(data, 'blocks'),
    tempLocation: path.join(data, 'blocks', 'tempt'),
    quarantineLocation: path.join(data, 'blocks', 'quarantine'),
  })
  assert.equal(cfg.identity.localPlc, true)
  assert.equal(cfg.identity.localPlcPath, '/plc')
  assert.equal(cfg.identity.plcUrl, 'http://localhost:2583')
  assert.equal(cfg.identity.localPlcDbLocation, path.join(data, 'plc.sqlite'))
  assert.deepEqual(cfg.identity.serviceHandleDomains, ['.test'])
  assert.equal(cfg.identity.cacheStaleTtlMs, 3600_000)
  assert.equal(cfg.identity.cacheMaxTtlMs, 86400_000)
  assert.equal(cfg.identity.resolverTimeoutMs, 3000)
  assert.equal(cfg.identity.recoveryDidKey, null)
  assert.deepEqual(cfg.invites, { required: true, interval: null, epoch: 0 })
  assert.equal(cfg.email, null)
  assert.equal(cfg.moderationEmail, null)
  assert.deepEqual(cfg.subscription, { maxBuffer: 500, repoBackfillLimitMs: 86400_000 })
  assert.equal(cfg.bskyAppView, null)
  assert.equal(cfg.modService, null)
  assert.equal(cfg.reportService, null)
  assert.deepEqual(cfg.rateLimits, { enabled: false, bypassKey: null, bypassIps: [] })
  assert.deepEqual(cfg.crawlers, [])
  assert.deepEqual(cfg.fetch, { disableSsrfProtection: false, maxResponseSize: 512 * 1024 })
  assert.deepEqual(cfg.proxy, {
    disableSsrfProtection: false,
    allowHttp2: false,
    headersTimeoutMs: 10_000,
    bodyTimeoutMs: 30_000,
    maxResponseSize: 10 * 1024 * 1024,
    maxRetries: 0,
    preferCompressed: false,
  })
  assert.equal(cfg.oauth.issuer, 'http://localhost:2583')
  assert.deepEqual(cfg.log, { enabled: false, level: 'info', systems: [], destination: null })
  assert.deepEqual(cfg.hearth, {
    blobGcGraceMs: 86400_000,
    validateResponses: false,
    shutdownTimeoutMs: 10_000,
    streamStallMs: 60_000,
    backup: { destination: null, keep: null, every: null, s3Env: {} },
    adminDids: [],
  })
})

test('local mode generates the secrets once, keeps them private, and reuses them', () => {
  const cwd = tempDir()
  const first = loadConfig({}, { cwd })
  const file = path.join(cwd, 'data', SECRETS_FILE_NAME)
  assert.equal(first.secrets.file, file)
  assert.deepEqual(first.secrets.generated.sort(), ['PDS_ADMIN_PASSWORD', 'PDS_JWT_SECRET', 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'])
  assert.match(first.secrets.plcRotationKeyK256PrivateKeyHex, /^[0-9a-f]{64}$/)
  assert.ok(first.secrets.jwtSecret.length >= 32)
  assert.ok(first.secrets.adminPassword.length >= 16)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const stored = JSON.parse(readFileSync(file, 'utf8'))
  assert.equal(stored.PDS_JWT_SECRET, first.secrets.jwtSecret)

  const second = loadConfig({}, { cwd })
  assert.deepEqual(second.secrets.generated, [])
  assert.equal(second.secrets.jwtSecret, first.secrets.jwtSecret)
  assert.equal(second.secrets.adminPassword, first.secrets.adminPassword)
  assert.equal(second.secrets.plcRotationKeyK256PrivateKeyHex, first.secrets.plcRotationKeyK256PrivateKeyHex)

  // Serializing or printing a config never shows a secret; spreading it keeps them.
  const serialized = JSON.stringify(second)
  const printed = inspect(second, { depth: 10 })
  for (const secret of [first.secrets.jwtSecret, first.secrets.adminPassword, first.secrets.plcRotationKeyK256PrivateKeyHex]) {
    assert.ok(!serialized.includes(secret))
    assert.ok(!printed.includes(secret))
  }
  assert.match(serialized, /"secrets":"\[redacted\]"/)
  assert.equal({ ...second }.secrets.jwtSecret, first.secrets.jwtSecret)

  // A loosened file mode is tightened again.
  chmodSync(file, 0o644)
  loadConfig({}, { cwd })
  assert.equal(statSync(file).mode & 0o777, 0o600)
})

test('secrets from the environment win and are never written to disk', () => {
  const cwd = tempDir()
  const cfg = loadConfig({ PDS_JWT_SECRET: 'from-env-jwt' }, { cwd })
  assert.equal(cfg.secrets.jwtSecret, 'from-env-jwt')
  assert.deepEqual(cfg.secrets.generated.sort(), ['PDS_ADMIN_PASSWORD', 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'])
  const stored = readFileSync(path.join(cwd, 'data', SECRETS_FILE_NAME), 'utf8')
  assert.ok(!stored.includes('from-env-jwt'))
  assert.ok(!('PDS_JWT_SECRET' in JSON.parse(stored)))

  const all = loadConfig({ ...PROD_SECRETS }, { cwd: tempDir() })
  assert.equal(all.secrets.file, null)
  assert.deepEqual(all.secrets.generated, [])
  assert.equal(all.secrets.adminPassword, PROD_SECRETS.PDS_ADMIN_PASSWORD)
})

test('a corrupt secrets file is an error naming the file, not its content', () => {
  const cwd = tempDir()
  loadConfig({}, { cwd })
  const file = path.join(cwd, 'data', SECRETS_FILE_NAME)
  writeFileSync(file, '{"PDS_JWT_SECRET": "abc", oops')
  const err = configError(() => loadConfig({}, { cwd }))
  assert.match(err.message, /hearth-secrets\.json/)
  assert.ok(!err.message.includes('abc'))
})

test('a real hostname: https public URL, did:web, handle domain, plc.directory, secrets required', () => {
  const cwd = tempDir()
  const err = configError(() => loadConfig({ PDS_HOSTNAME: 'pds.example.com' }, { cwd }))
  assert.deepEqual(err.variables.sort(), ['PDS_ADMIN_PASSWORD', 'PDS_JWT_SECRET', 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'])
  assert.match(err.message, /PDS_JWT_SECRET is required when PDS_HOSTNAME is not localhost/)

  const cfg = loadConfig({ PDS_HOSTNAME: 'PDS.Example.com', ...PROD_SECRETS }, { cwd })
  assert.equal(cfg.service.hostname, 'pds.example.com')
  assert.equal(cfg.service.publicUrl, 'https://pds.example.com')
  assert.equal(cfg.service.did, 'did:web:pds.example.com')
  assert.equal(cfg.service.localMode, false)
  assert.deepEqual(cfg.identity.serviceHandleDomains, ['.pds.example.com'])
  assert.equal(cfg.identity.plcUrl, 'https://plc.directory')
  assert.equal(cfg.identity.localPlc, false)
  assert.equal(cfg.identity.localPlcPath, null)
  assert.equal(cfg.secrets.file, null)

  // A hostname with a port: did:web encodes it.
  const withPort = loadConfig({ PDS_HOSTNAME: 'pds.example.com:8443', ...PROD_SECRETS }, { cwd })
  assert.equal(withPort.service.publicUrl, 'https://pds.example.com:8443')
  assert.equal(withPort.service.did, 'did:web:pds.example.com%3A8443')
  assert.deepEqual(withPort.identity.serviceHandleDomains, ['.pds.example.com'])
})

test('the PLC directory: explicit URL always wins; HEARTH_LOCAL_PLC overrides the default', () => {
  const cwd = tempDir()
  const explicit = loadConfig({ PDS_DID_PLC_URL: 'http://127.0.0.1:2582' }, { cwd })
  assert.equal(explicit.identity.plcUrl, 'http://127.0.0.1:2582')
  assert.equal(explicit.identity.localPlc, false)
  const both = loadConfig({ PDS_DID_PLC_URL: 'http://127.0.0.1:2582', HEARTH_LOCAL_PLC: 'true' }, { cwd })
  assert.equal(both.identity.localPlc, false)
  assert.match(both.warnings.join('\n'), /HEARTH_LOCAL_PLC=true is ignored because PDS_DID_PLC_URL is set/)
  const off = loadConfig({ HEARTH_LOCAL_PLC: 'false' }, { cwd })
  assert.equal(off.identity.plcUrl, 'https://plc.directory')
  const prodLocal = loadConfig({ PDS_HOSTNAME: 'pds.internal', HEARTH_LOCAL_PLC: '1', ...PROD_SECRETS }, { cwd })
  assert.equal(prodLocal.identity.plcUrl, 'https://pds.internal')
  assert.equal(prodLocal.identity.localPlcPath, '/plc')
})

test('every malformed value is an error naming its variable (and never echoing a secret)', () => {
  const cases: Array<[string, string]> = [
    ['PDS_PORT', 'eighty'],
    ['PDS_PORT', '70000'],
    ['PDS_PORT', '12.5'],
    ['PDS_HOSTNAME', 'https://pds.example.com'],
    ['PDS_HOSTNAME', 'pds.example.com/path'],
    ['PDS_SERVICE_DID', 'web:pds.example.com'],
    ['PDS_DID_PLC_URL', 'plc.directory'],
    ['PDS_DID_PLC_URL', 'ftp://plc.directory'],
    ['PDS_BLOB_UPLOAD_LIMIT', '5MB'],
    ['PDS_BLOB_UPLOAD_LIMIT', '0'],
    ['PDS_INVITE_REQUIRED', 'yes'],
    ['PDS_DEV_MODE', 'on'],
    ['PDS_RATE_LIMITS_ENABLED', 'enabled'],
    ['PDS_SERVICE_HANDLE_DOMAINS', 'example.com'],
    ['PDS_SERVICE_HANDLE_DOMAINS', '.ok.com,bad.com'],
    ['PDS_RECOVERY_DID_KEY', 'did:key:zNotAKey'],
    ['PDS_CRAWLERS', 'https://bsky.network,bsky.network'],
    ['PDS_RATE_LIMIT_BYPASS_IPS', '1.2.3.4,10.0.0.0/99'],
    ['PDS_CONTACT_EMAIL_ADDRESS', 'not an email'],
    ['PDS_DID_CACHE_MAX_TTL', '-1'],
    ['PDS_MAX_SUBSCRIPTION_BUFFER', 'lots'],
    ['PDS_BSKY_APP_VIEW_DID', 'api.bsky.app'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_ENABLED', 'maybe'],
    ['HEARTH_BLOB_GC_GRACE_MS', '1d'],
    ['HEARTH_LOCAL_PLC', 'sometimes'],
  ]
  for (const [name, value] of cases) {
    const env: Record<string, string> = { [name]: value }
    if (name === 'PDS_BSKY_APP_VIEW_DID') env.PDS_BSKY_APP_VIEW_URL = 'https://api.bsky.app'
    const err = configError(() => loadConfig(env, { cwd: tempDir() }))
    assert.deepEqual(err.variables, [name], `${name}=${value}: ${err.message}`)
    assert.ok(err.message.includes(name), err.message)
  }
  const secretCases: Array<[string, string]> = [
    ['PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX', 'zz-not-hex-secret-material'],
    ['PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX', 'ab'.repeat(31)],
    // The curve order n is not a valid private key.
    ['PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX', 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'],
    ['PDS_EMAIL_SMTP_URL', 'http://user:pa55word@smtp.example.com'],
  ]
  for (const [name, value] of secretCases) {
    const env: Record<string, string> = { [name]: value }
    if (name === 'PDS_EMAIL_SMTP_URL') env.PDS_EMAIL_FROM_ADDRESS = 'pds@example.com'
    const err = configError(() => loadConfig(env, { cwd: tempDir() }))
    assert.deepEqual(err.variables, [name])
    assert.ok(!err.message.includes(value), `${name} value echoed: ${err.message}`)
    assert.ok(!err.message.includes('pa55word'))
  }
})

test('several problems are reported together, and nothing is written for a refused config', () => {
  const cwd = tempDir()
  const err = configError(() => loadConfig({ PDS_PORT: 'x', PDS_DEV_MODE: 'y' }, { cwd }))
  assert.deepEqual(err.variables, ['PDS_PORT', 'PDS_DEV_MODE'])
  assert.match(err.message, /PDS_PORT must be an integer \(got "x"\)/)
  assert.throws(() => statSync(path.join(cwd, 'data', SECRETS_FILE_NAME)), /ENOENT/)
})

test('pairs: email, app view, mod and report services', () => {
  const cwd = tempDir()
  assert.deepEqual(configError(() => loadConfig({ PDS_EMAIL_SMTP_URL: 'smtps://u:p@smtp.x.com' }, { cwd })).variables, ['PDS_EMAIL_FROM_ADDRESS'])
  assert.deepEqual(configError(() => loadConfig({ PDS_MODERATION_EMAIL_ADDRESS: 'mod@x.com' }, { cwd })).variables, [
    'PDS_MODERATION_EMAIL_SMTP_URL',
  ])
  assert.deepEqual(configError(() => loadConfig({ PDS_BSKY_APP_VIEW_URL: 'https://api.bsky.app' }, { cwd })).variables, [
    'PDS_BSKY_APP_VIEW_DID',
  ])
  const cfg = loadConfig(
    {
      PDS_EMAIL_SMTP_URL: 'smtps://u:p@smtp.x.com:465',
      PDS_EMAIL_FROM_ADDRESS: 'PDS <pds@x.com>',
      PDS_BSKY_APP_VIEW_URL: 'https://api.bsky.app',
      PDS_BSKY_APP_VIEW_DID: 'did:web:api.bsky.app',
      PDS_BSKY_APP_VIEW_CDN_URL_PATTERN: 'https://cdn.bsky.app/img/%s/plain/%s/%s@jpeg',
      PDS_MOD_SERVICE_URL: 'https://mod.bsky.app',
      PDS_MOD_SERVICE_DID: 'did:plc:ar7c4by46qjdydhdevvrndac',
      PDS_REPORT_SERVICE_DID: 'did:plc:ignored',
    },
    { cwd },
  )
  assert.deepEqual(cfg.email, { smtpUrl: 'smtps://u:p@smtp.x.com:465', fromAddress: 'PDS <pds@x.com>' })
  assert.deepEqual(cfg.bskyAppView, {
    url: 'https://api.bsky.app',
    did: 'did:web:api.bsky.app',
    cdnUrlPattern: 'https://cdn.bsky.app/img/%s/plain/%s/%s@jpeg',
  })
  // The report service defaults to the mod service.
  assert.deepEqual(cfg.reportService, { url: 'https://mod.bsky.app', did: 'did:plc:ar7c4by46qjdydhdevvrndac' })
  assert.match(cfg.warnings.join('\n'), /PDS_REPORT_SERVICE_DID is ignored because PDS_REPORT_SERVICE_URL is not set/)
})

test('values: booleans, lists, invites, rate limits, paths, the installer settings', () => {
  const cwd = tempDir()
  const cfg = loadConfig(
    {
      PDS_HOSTNAME: 'pds.example.com',
      ...PROD_SECRETS,
      PDS_DATA_DIRECTORY: '/pds',
      PDS_BLOBSTORE_DISK_LOCATION: '/pds/blocks',
      PDS_BLOB_UPLOAD_LIMIT: '104857600',
      PDS_DID_PLC_URL: 'https://plc.directory',
      PDS_BSKY_APP_VIEW_URL: 'https://api.bsky.app',
      PDS_BSKY_APP_VIEW_DID: 'did:web:api.bsky.app',
      PDS_REPORT_SERVICE_URL: 'https://mod.bsky.app',
      PDS_REPORT_SERVICE_DID: 'did:plc:ar7c4by46qjdydhdevvrndac',
      PDS_CRAWLERS: 'https://bsky.network, https://relay.example.com',
      PDS_RATE_LIMITS_ENABLED: 'true',
      PDS_RATE_LIMIT_BYPASS_IPS: '10.0.0.0/8,1.2.3.4',
      PDS_RATE_LIMIT_BYPASS_KEY: 'k',
      PDS_INVITE_REQUIRED: 'true',
      PDS_INVITE_INTERVAL: '604800000',
      PDS_DEV_MODE: '1',
      PDS_ACCOUNT_DB_LOCATION: 'relative/account.sqlite',
      LOG_ENABLED: 'true',
      LOG_LEVEL: 'debug',
      PDS_SERVICE_HANDLE_DOMAINS: '.a.com,.b.com',
    },
    { cwd },
  )
  // The only warning: a production server that cannot send email says so at start.
  assert.equal(cfg.warnings.length, 1)
  assert.match(cfg.warnings[0], /^PDS_EMAIL_SMTP_URL \/ PDS_EMAIL_FROM_ADDRESS are not set: account emails/)
  const mailing = loadConfig(
    { PDS_HOSTNAME: 'pds.example.com', ...PROD_SECRETS, PDS_DATA_DIRECTORY: '/pds', PDS_EMAIL_SMTP_URL: 'smtps://u:p@smtp.example.com', PDS_EMAIL_FROM_ADDRESS: 'pds@example.com' },
    { cwd },
  )
  assert.deepEqual(mailing.warnings, [])
  assert.equal(cfg.db.dataDirectory, '/pds')
  assert.equal(cfg.db.sequencerDbLocation, '/pds/sequencer.sqlite')
  assert.equal(cfg.db.accountDbLocation, path.join(cwd, 'relative/account.sqlite'))
  assert.equal(cfg.blobstore.provider === 'disk' && cfg.blobstore.location, '/pds/blocks')
  assert.equal(cfg.service.blobUploadLimit, 104857600)
  assert.deepEqual(cfg.crawlers, ['https://bsky.network', 'https://relay.example.com'])
  assert.deepEqual(cfg.rateLimits, { enabled: true, bypassKey: 'k', bypassIps: ['10.0.0.0/8', '1.2.3.4'] })
  assert.deepEqual(cfg.invites, { required: true, interval: 604800000, epoch: 0 })
  assert.equal(cfg.service.devMode, true)
  assert.equal(cfg.hearth.validateResponses, true) // follows dev mode
  assert.equal(cfg.fetch.disableSsrfProtection, true) // follows dev mode
  assert.deepEqual(cfg.log, { enabled: true, level: 'debug', systems: [], destination: null })
  assert.deepEqual(cfg.identity.serviceHandleDomains, ['.a.com', '.b.com'])

  const noInvites = loadConfig({ PDS_INVITE_REQUIRED: 'false', PDS_INVITE_INTERVAL: '5' }, { cwd })
  assert.deepEqual(noInvites.invites, { required: false, interval: null, epoch: 0 })
  const zero = loadConfig({ PDS_INVITE_REQUIRED: '0', PDS_PORT: '0' }, { cwd })
  assert.equal(zero.invites.required, false)
  assert.equal(zero.service.port, 0)
  // Empty values are unset, as in the official PDS.
  assert.equal(loadConfig({ PDS_PORT: '', PDS_INVITE_REQUIRED: '' }, { cwd }).service.port, 2583)
})

test('unknown and unsupported PDS_/HEARTH_ variables are warned about by name', () => {
  const cfg = loadConfig(
    {
      PDS_HOSTNAM: 'typo.example.com',
      PDS_PLC_ROTATION_KEY_KMS_KEY_ID: 'kms-key',
      PDS_ENTRYWAY_URL: 'https://entryway.example.com',
      PDS_ENTRYWAY_ADMIN_TOKEN: 'ENTRYWAYSECRET',
      HEARTH_NOPE: '1',
      HEARTH_CRYPTO_BACKEND: 'noble',
      UNRELATED: 'x',
    },
    { cwd: tempDir() },
  )
  const text = cfg.warnings.join('\n')
  assert.match(text, /PDS_HOSTNAM is not a setting Hearth knows/)
  assert.match(text, /PDS_PLC_ROTATION_KEY_KMS_KEY_ID is not supported/)
  assert.match(text, /PDS_ENTRYWAY_URL is not supported/)
  assert.match(text, /HEARTH_NOPE is not a setting Hearth knows/)
  assert.doesNotMatch(text, /HEARTH_CRYPTO_BACKEND|UNRELATED/)
  assert.doesNotMatch(text, /ENTRYWAYSECRET|kms-key/)
  assert.equal(cfg.warnings.length, 5)
})

test('PDS_BLOBSTORE_S3_*: an S3 blob store with the official meanings and defaults', () => {
  const cwd = tempDir()
  const s3 = loadConfig(
    {
      PDS_BLOBSTORE_S3_BUCKET: 'my-bucket',
      PDS_BLOBSTORE_S3_REGION: 'eu-west-3',
      PDS_BLOBSTORE_S3_ENDPOINT: 'https://s3.example.com',
      PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: 'true',
      PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'AKID',
      PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 'S3SECRETVALUE',
    },
    { cwd },
  )
  assert.deepEqual(s3.warnings, [])
  assert.deepEqual(s3.blobstore, {
    provider: 's3',
    bucket: 'my-bucket',
    region: 'eu-west-3',
    endpoint: 'https://s3.example.com',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'S3SECRETVALUE' },
    uploadTimeoutMs: 20_000,
    requestTimeoutMs: 15_000,
  })
  // Without keys or region the AWS SDK's own chain decides (AWS_* variables, instance roles).
  const bare = loadConfig({ PDS_BLOBSTORE_S3_BUCKET: 'b', PDS_BLOBSTORE_S3_UPLOAD_TIMEOUT_MS: '3000' }, { cwd })
  assert.ok(bare.blobstore.provider === 's3')
  assert.equal(bare.blobstore.credentials, undefined)
  assert.equal(bare.blobstore.region, undefined)
  assert.equal(bare.blobstore.uploadTimeoutMs, 3000)
  assert.equal(bare.blobstore.requestTimeoutMs, 6000) // never below 6 s by default
  const explicit = loadConfig({ PDS_BLOBSTORE_S3_BUCKET: 'b', PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: '2500' }, { cwd })
  assert.ok(explicit.blobstore.provider === 's3')
  assert.equal(explicit.blobstore.requestTimeoutMs, 2500)
  // The S3 variables unset: the disk store, as before.
  assert.equal(loadConfig({}, { cwd }).blobstore.provider, 'disk')

  const half = () => loadConfig({ PDS_BLOBSTORE_S3_BUCKET: 'b', PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 'S3SECRETVALUE' }, { cwd })
  assert.throws(half, (err: Error) => {
    assert.match(err.message, /PDS_BLOBSTORE_S3_ACCESS_KEY_ID/)
    assert.doesNotMatch(err.message, /S3SECRETVALUE/)
    return true
  })
  assert.throws(
    () => loadConfig({ PDS_BLOBSTORE_S3_BUCKET: 'b', PDS_BLOBSTORE_DISK_LOCATION: '/blobs' }, { cwd }),
    /Cannot set both S3 and disk blobstore/,
  )
  assert.throws(() => loadConfig({ PDS_BLOBSTORE_S3_BUCKET: 'b', PDS_BLOBSTORE_S3_ENDPOINT: 'not a url' }, { cwd }), /PDS_BLOBSTORE_S3_ENDPOINT/)
})

test('.env in the working directory is read; the real environment wins', () => {
  const cwd = tempDir()
  writeFileSync(
    path.join(cwd, '.env'),
    [
      '# comment',
      'PDS_PORT=1234',
      'export PDS_SERVICE_NAME="My PDS # not a comment"',
      "PDS_HOME_URL='https://home.example.com'",
      'PDS_CONTACT_EMAIL_ADDRESS=admin@example.com # trailing comment',
      'PDS_CRAWLERS=https://bsky.network',
      '',
    ].join('\n'),
  )
  const cfg = loadConfig({ PDS_PORT: '4321' }, { cwd })
  assert.equal(cfg.service.port, 4321)
  assert.equal(cfg.service.name, 'My PDS # not a comment')
  assert.equal(cfg.service.homeUrl, 'https://home.example.com')
  assert.equal(cfg.service.contactEmailAddress, 'admin@example.com')
  assert.deepEqual(cfg.crawlers, ['https://bsky.network'])
  assert.equal(loadConfig({}, { cwd, dotenv: false }).service.port, 2583)
})

test('parseDotenv: quotes, escapes, multi-line values, junk lines', () => {
  assert.deepEqual(
    parseDotenv(
      [
        '\uFEFFA=1',
        'B = spaced ',
        'C="line1\\nline2 \\"q\\""',
        "D='literal \\n $X'",
        'E="multi',
        'line"',
        'not an assignment',
        'F=',
        'G=#nothing',
        'H=a#b',
        '1BAD=x',
      ].join('\r\n'),
    ),
    { A: '1', B: 'spaced', C: 'line1\nline2 "q"', D: 'literal \\n $X', E: 'multi\nline', F: '', G: '', H: 'a#b' },
  )
})

test('withListenPort: a port-0 local config learns its real port', () => {
  const cfg = loadConfig({ PDS_PORT: '0' }, { cwd: tempDir() })
  const bound = withListenPort(cfg, 40123)
  assert.equal(bound.service.port, 40123)
  assert.equal(bound.service.publicUrl, 'http://localhost:40123')
  assert.equal(bound.identity.plcUrl, 'http://localhost:40123')
  assert.equal(bound.oauth.issuer, 'http://localhost:40123')
  assert.equal(bound.secrets.jwtSecret, cfg.secrets.jwtSecret)
  assert.equal(cfg.service.port, 0) // the original is untouched
})

test('request logs: on at info by default for a public hostname, off locally, LOG_ENABLED wins', () => {
  const cwd = tempDir()
  const prod = loadConfig({ PDS_HOSTNAME: 'pds.example.com', ...PROD_SECRETS }, { cwd })
  assert.equal(prod.log.enabled, true)
  assert.equal(prod.log.level, 'info')
  assert.equal(loadConfig({}, { cwd }).log.enabled, false)
  assert.equal(loadConfig({ PDS_HOSTNAME: 'pds.example.com', LOG_ENABLED: 'false', ...PROD_SECRETS }, { cwd }).log.enabled, false)
  assert.equal(loadConfig({ LOG_ENABLED: 'true' }, { cwd }).log.enabled, true)
})

test('HEARTH_BACKUP_DESTINATION (the dashboard\'s backups): a directory from the working directory or an s3:// prefix; the bucket settings never shown', () => {
  const cwd = tempDir()
  const dir = loadConfig({ HEARTH_BACKUP_DESTINATION: 'backups', HEARTH_BACKUP_KEEP: '3', HEARTH_BACKUP_EVERY: '6h' }, { cwd })
  assert.deepEqual(dir.warnings, [])
  assert.deepEqual({ ...dir.hearth.backup, s3Env: null }, { destination: path.join(cwd, 'backups'), keep: 3, every: '6h', s3Env: null })
  const s3 = loadConfig(
    { HEARTH_BACKUP_DESTINATION: 's3://my-backups/pds', PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'AKID', HEARTH_BACKUP_S3_SECRET_ACCESS_KEY: 'BACKUPSECRET' },
    { cwd },
  )
  assert.equal(s3.hearth.backup.destination, 's3://my-backups/pds')
  assert.deepEqual({ ...s3.hearth.backup.s3Env }, { PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'AKID', HEARTH_BACKUP_S3_SECRET_ACCESS_KEY: 'BACKUPSECRET' })
  assert.doesNotMatch(JSON.stringify(s3), /BACKUPSECRET/)
  assert.deepEqual(configError(() => loadConfig({ HEARTH_BACKUP_DESTINATION: 's3://No_Such' }, { cwd })).variables, ['HEARTH_BACKUP_DESTINATION'])
  assert.deepEqual(configError(() => loadConfig({ HEARTH_BACKUP_KEEP: '0' }, { cwd })).variables, ['HEARTH_BACKUP_KEEP'])
})

test('HEARTH_STREAM_STALL_MS: a limit a timer can wait, or refused (a longer timer fires at once)', () => {
  assert.equal(loadConfig({ HEARTH_STREAM_STALL_MS: '2147483647' }, { cwd: tempDir() }).hearth.streamStallMs, 2 ** 31 - 1)
  for (const value of ['3000000000', '0']) {
    const err = configError(() => loadConfig({ HEARTH_STREAM_STALL_MS: value }, { cwd: tempDir() }))
    assert.deepEqual(err.variables, ['HEARTH_STREAM_STALL_MS'])
    assert.match(err.message, /HEARTH_STREAM_STALL_MS must be an integer from 1 to 2147483647/)
  }
})
