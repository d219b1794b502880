// What every operator command shares: where output goes, the configuration (the PDS_* variables
// and ./.env, read exactly as `hearth serve` reads them), and an XRPC client for the running
// server authenticated as the admin.
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { ServerConfig } from '../config/index.ts'

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  /** Asks a yes/no question on a terminal; null when there is none to ask on. */
  confirm?: (question: string) => Promise<boolean | null>
}

export interface CliContext {
  io: Io
  env: NodeJS.ProcessEnv
  cwd: string
}

/** A failure to report as `hearth: <message>` with a non-zero exit (2 for usage errors). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

export const usageError = (message: string, usage: string) => new CliError(`${message}\n\n${usage}`, 2)

const SECRET_VARIABLES = ['PDS_JWT_SECRET', 'PDS_ADMIN_PASSWORD', 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'] as const

/**
 * The configuration, read as `hearth serve` reads it. `secrets: 'required'` (the admin
 * password is needed) reads the local-mode secrets file too, but never creates one: a command
 * run where no server has run says so instead of leaving a fresh data directory behind.
 * `secrets: 'none'` (backup, restore, request-crawl) does not look at them at all.
 */
export async function loadCliConfig(ctx: CliContext, opts: { secrets: 'required' | 'none' }): Promise<ServerConfig> {
  const { loadConfig, ConfigError, environmentWithDotenv, SECRETS_FILE_NAME } = await import('../config/index.ts')
  const env = environmentWithDotenv(ctx.env, ctx.cwd)
  const hasAdminPassword = !!env.PDS_ADMIN_PASSWORD?.trim()
  if (opts.secrets === 'required' && !hasAdminPassword) {
    const hostname = env.PDS_HOSTNAME?.trim().toLowerCase() || 'localhost'
    if (hostname !== 'localhost') throw new CliError('PDS_ADMIN_PASSWORD is not set (in the environment or ./.env)')
    // Local mode: the password is in the secrets file `hearth serve` wrote.
    const dataDir = path.resolve(ctx.cwd, env.PDS_DATA_DIRECTORY?.trim() || 'data')
    if (!existsSync(path.join(dataDir, SECRETS_FILE_NAME))) {
      throw new CliError(
        `PDS_ADMIN_PASSWORD is not set and there is no local server data at ${dataDir}: run this where \`hearth serve\` runs, or set PDS_ADMIN_PASSWORD (and the other PDS_* settings)`,
      )
    }
  } else {
    // Placeholders for the secrets this command does not use, so that loading the configuration writes nothing.
    for (const name of SECRET_VARIABLES) {
      if (env[name]?.trim()) continue
      env[name] = name === 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX' ? '1'.repeat(64) : 'unused-by-this-command'
    }
  }
  try {
    const config = loadConfig(env, { cwd: ctx.cwd, dotenv: false })
    if (hasAdminPassword) {
      passwordSources.set(config, ctx.env.PDS_ADMIN_PASSWORD?.trim() ? 'PDS_ADMIN_PASSWORD in the environment' : `PDS_ADMIN_PASSWORD in ${path.join(ctx.cwd, '.env')}`)
    } else if (opts.secrets === 'required') {
      passwordSources.set(config, `the local secrets file ${config.secrets.file}`)
    }
    return config
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`configuration error: ${err.message}`)
    throw err
  }
}

// Where each loaded configuration's admin password came from, for the message when it is refused.
const passwordSources = new WeakMap<ServerConfig, string>()

/**
 * The URL of the running server: --url when given; in local mode the loopback port `hearth
 * serve` listens on; otherwise https://<PDS_HOSTNAME>, as pdsadmin does.
 */
export function serverUrl(config: ServerConfig, explicit: string | undefined): string {
  if (explicit) {
    try {
      return new URL(explicit).origin
    } catch {
      throw new CliError(`--url: not a URL: ${explicit}`, 2)
    }
  }
  if (config.service.localMode) return `http://127.0.0.1:${config.service.port}`
  return `https://${config.service.hostname}`
}

export interface XrpcCall {
  params?: Record<string, string | number | string[] | undefined>
  body?: unknown
  /** Send the admin Basic credentials (default true). */
  admin?: boolean
}

/** A small XRPC client for the operator commands; errors become CliErrors naming the method. */
export class AdminClient {
  readonly #authorization: string

  constructor(
    readonly url: string,
    adminPassword: string,
    /** Where the password was read, named when the server refuses it. */
    readonly passwordSource = 'PDS_ADMIN_PASSWORD',
  ) {
    this.#authorization = `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`
  }

  async query<T = unknown>(nsid: string, call: XrpcCall = {}): Promise<T> {
    return this.#send<T>('GET', nsid, call)
  }

  async procedure<T = unknown>(nsid: string, call: XrpcCall = {}): Promise<T> {
    return this.#send<T>('POST', nsid, call)
  }

  async #send<T>(method: 'GET' | 'POST', nsid: string, call: XrpcCall): Promise<T> {
    const url = new URL(`/xrpc/${nsid}`, this.url)
    for (const [key, value] of Object.entries(call.params ?? {})) {
      if (value === undefined) continue
      for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(one))
    }
    const headers: Record<string, string> = {}
    if (call.admin !== false) headers.authorization = this.#authorization
    if (method === 'POST') headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers,
        body: method === 'POST' ? JSON.stringify(call.body ?? {}) : undefined,
        signal: AbortSignal.timeout(60_000),
      })
    } catch (err) {
      const cause = errorCode(err)
      throw new CliError(`cannot reach the PDS at ${this.url} (${cause}); is it running? (--url sets where to find it)`)
    }
    const text = await res.text()
    let json: unknown = undefined
    if (text) {
      try {
        json = JSON.parse(text)
      } catch {
        // not JSON: reported below by status
      }
    }
    if (!res.ok) {
      const e = (json ?? {}) as { error?: string; message?: string }
      if (res.status === 401 && call.admin !== false) {
        throw new CliError(
          `${nsid}: the PDS at ${this.url} refused the admin password read from ${this.passwordSource}; it must be the password the server runs with (${e.message ?? res.statusText})`,
        )
      }
      throw new CliError(`${nsid} failed (${res.status} ${e.error ?? res.statusText}): ${e.message ?? text.slice(0, 200)}`)
    }
    return json as T
  }
}

export function adminClient(config: ServerConfig, explicitUrl: string | undefined): AdminClient {
  const password = config.secrets.adminPassword
  if (!password) throw new CliError('PDS_ADMIN_PASSWORD is not set (in the environment or ./.env)')
  return new AdminClient(serverUrl(config, explicitUrl), password, passwordSources.get(config))
}

/** The system error behind a failed fetch (ECONNREFUSED, ENOTFOUND…), for the message. */
export function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string; errors?: Array<{ code?: string }>; message?: string } }).cause
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message
}
