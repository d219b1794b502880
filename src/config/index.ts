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
import { inspect } from 'node:util'
import path from 'node:path'
import { EnvReader, environmentWithDotenv } from './env.ts'
import { readSecrets } from './secrets.ts'
import {
  readCrawlers,
  readEmail,
  readHearth,
  readIdentity,
  readInvites,
  readLog,
  readOAuth,
  readOutbound,
  readRateLimits,
  readService,
  readStorage,
  readSubscription,
  readUpstreams,
} from './sections.ts'
import { ConfigError, type ServerConfig } from './types.ts'
import { HEARTH_VARIABLES, UNSUPPORTED } from './variables.ts'

export * from './types.ts'
export { environmentWithDotenv, parseDotenv } from './env.ts'
export { HEARTH_VARIABLES } from './variables.ts'

export interface LoadConfigOptions {
  /** Directory relative paths and the .env file are resolved against (process.cwd()). */
  cwd?: string
  /** Read `<cwd>/.env` (true). */
  dotenv?: boolean
}

/**
 * Reads the configuration. Throws a ConfigError naming every malformed or missing variable.
 * In local mode this may create the data directory and the secrets file.
 */
export function loadConfig(env: NodeJS.ProcessEnv, opts: LoadConfigOptions = {}): ServerConfig {
  const cwd = path.resolve(opts.cwd ?? process.cwd())
  const merged = opts.dotenv === false ? { ...env } : environmentWithDotenv(env, cwd)
  const r = new EnvReader(merged)
  const warnings: string[] = []

  const service = readService(r)
  const storage = readStorage(r, cwd)
  const identity = readIdentity(r, cwd, service, storage.db.dataDirectory, warnings)
  const invites = readInvites(r)
  const email = readEmail(r, service.localMode, warnings)
  const upstreams = readUpstreams(r, warnings)
  const rateLimits = readRateLimits(r)
  const crawlers = readCrawlers(r)
  const { fetch, proxy } = readOutbound(r, service.devMode)
  const oauth = readOAuth(r, service)
  const lexicon = { didAuthority: r.did('PDS_LEXICON_AUTHORITY_DID') ?? null }
  const log = readLog(r, cwd, !service.localMode)
  const hearth = readHearth(r, service.devMode, cwd)
  redactedWhenShown(hearth.backup.s3Env)
  const subscription = readSubscription(r)
  const secrets = readSecrets(r, { localMode: service.localMode, dataDirectory: storage.db.dataDirectory })
  warnings.push(...unknownVariables(r, merged))

  if (r.problems.length > 0) throw new ConfigError(r.problems)
  if (secrets === null) throw new Error('unreachable: secrets missing without a reported problem')

  return {
    service,
    ...storage,
    identity,
    invites,
    ...email,
    subscription,
    ...upstreams,
    rateLimits,
    crawlers,
    fetch,
    proxy,
    oauth,
    lexicon,
    log,
    hearth,
    secrets: redactedWhenShown(secrets),
    warnings,
  }
}

/** What was set but means nothing to Hearth: unsupported official variables and unknown ones. */
function unknownVariables(r: EnvReader, merged: Record<string, string | undefined>): string[] {
  const warnings: string[] = []
  for (const name of Object.keys(UNSUPPORTED)) r.read.add(name)
  for (const name of HEARTH_VARIABLES) r.read.add(name)
  for (const [name, value] of Object.entries(merged)) {
    if (value === undefined || value.trim() === '') continue
    if (Object.hasOwn(UNSUPPORTED, name)) warnings.push(`${name} is not supported by Hearth and is ignored: ${UNSUPPORTED[name]}`)
    else if ((name.startsWith('PDS_') || name.startsWith('HEARTH_')) && !r.read.has(name)) {
      warnings.push(`${name} is not a setting Hearth knows; it is ignored`)
    }
  }
  return warnings
}

/**
 * The config of a server that listened on PDS_PORT=0 and got `port`: in local mode the public
 * URL (and so the local PLC URL and OAuth issuer) carry the port.
 */
export function withListenPort(cfg: ServerConfig, port: number): ServerConfig {
  const service = { ...cfg.service, port }
  if (service.localMode) service.publicUrl = `http://localhost:${port}`
  const identity = { ...cfg.identity }
  if (identity.localPlc) identity.plcUrl = service.publicUrl
  return { ...cfg, service, identity, oauth: { ...cfg.oauth, issuer: service.publicUrl } }
}

// The values stay ordinary properties (spreading a config keeps them); only their display hides.
function redactedWhenShown<T extends object>(obj: T): T {
  Object.defineProperty(obj, 'toJSON', { value: () => '[redacted]', enumerable: false })
  Object.defineProperty(obj, inspect.custom, { value: () => '[redacted]', enumerable: false })
  return obj
}
