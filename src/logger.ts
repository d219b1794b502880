// A small structured logger: one JSON object per line, pino's level numbers and field names
// (`level`, `time`, `name`, `msg`, `err`), so the tools operators already point at the official
// PDS's logs keep working. Configured like the official PDS: LOG_ENABLED (off by default),
// LOG_LEVEL (default info), LOG_SYSTEMS (space/comma separated subsystem names; all when unset)
// and LOG_DESTINATION (a file to append to; stderr when unset).
//
// Secrets never reach a log line: values under keys that name credentials (authorization,
// cookie, password, secret, token, jwt, private key...) are replaced before serialization.
import { createWriteStream } from 'node:fs'

export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const
export type LogLevel = keyof typeof LOG_LEVELS

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(LOG_LEVELS, value)
}

export interface LogConfig {
  enabled: boolean
  level: LogLevel
  /** Subsystems to log; empty means all. */
  systems: string[]
  /** A file to append to; null for stderr. */
  destination: string | null
}

type LogFn = {
  (msg: string): void
  (fields: Record<string, unknown> | Error, msg?: string): void
}

export interface Logger {
  trace: LogFn
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  fatal: LogFn
  isLevelEnabled(level: LogLevel): boolean
  /** A logger that adds these fields to every line. */
  child(bindings: Record<string, unknown>): Logger
}

export interface LogSink {
  write(line: string): unknown
}

const REDACTED = '[redacted]'
// Matched against whole key names, case-insensitively.
const SECRET_KEY_RE =
  /^(authorization|proxy-authorization|cookie|set-cookie|dpop|x-ratelimit-bypass|password|passwd|.*secret.*|.*token.*|jwt|.*jwt|.*private.?key.*|.*privkey.*|.*api.?key.*|.*password.*|smtp.?url|.*smtpurl)$/i

function configFromEnv(env: NodeJS.ProcessEnv): LogConfig {
  const enabledRaw = (env.LOG_ENABLED ?? '').toLowerCase()
  const level = (env.LOG_LEVEL ?? '').toLowerCase()
  return {
    enabled: enabledRaw === 'true' || enabledRaw === 't' || enabledRaw === '1',
    level: isLogLevel(level) ? level : 'info',
    systems: (env.LOG_SYSTEMS ?? '').split(/[\s,]+/).filter(Boolean),
    destination: env.LOG_DESTINATION || null,
  }
}

interface RootState {
  config: LogConfig
  sink: LogSink
}

function sinkFor(destination: string | null): LogSink {
  if (destination === null) return { write: (line) => process.stderr.write(line) }
  const stream = createWriteStream(destination, { flags: 'a' })
  // A failing log file must not take the server down.
  stream.on('error', () => {})
  return stream
}

const root: RootState = { config: configFromEnv(process.env), sink: { write: (line) => process.stderr.write(line) } }
if (root.config.destination) root.sink = sinkFor(root.config.destination)

/** Re-reads the logging settings (from ServerConfig.log); every subsystem logger follows. */
export function configureLogging(config: LogConfig, sink?: LogSink): void {
  const destinationChanged = config.destination !== root.config.destination
  root.config = { ...config, systems: [...config.systems] }
  if (sink) root.sink = sink
  else if (destinationChanged) root.sink = sinkFor(config.destination)
}

/** The current logging settings (a copy). */
export function loggingConfig(): LogConfig {
  return { ...root.config, systems: [...root.config.systems] }
}

class JsonLogger implements Logger {
  readonly trace: LogFn
  readonly debug: LogFn
  readonly info: LogFn
  readonly warn: LogFn
  readonly error: LogFn
  readonly fatal: LogFn

  constructor(
    private readonly name: string,
    private readonly bindings: Record<string, unknown>,
    // A fixed config/sink for standalone loggers; the shared root state otherwise.
    private readonly state: RootState | null,
  ) {
    this.trace = this.method('trace')
    this.debug = this.method('debug')
    this.info = this.method('info')
    this.warn = this.method('warn')
    this.error = this.method('error')
    this.fatal = this.method('fatal')
  }

  private get current(): RootState {
    return this.state ?? root
  }

  isLevelEnabled(level: LogLevel): boolean {
    const { config } = this.current
    if (!config.enabled) return false
    if (config.systems.length > 0 && !config.systems.includes(this.name)) return false
    return LOG_LEVELS[level] >= LOG_LEVELS[config.level]
  }

  child(bindings: Record<string, unknown>): Logger {
    return new JsonLogger(this.name, { ...this.bindings, ...bindings }, this.state)
  }

  private method(level: LogLevel): LogFn {
    return ((fieldsOrMsg: Record<string, unknown> | Error | string, msg?: string) => {
      if (!this.isLevelEnabled(level)) return
      let fields: Record<string, unknown> | undefined
      if (typeof fieldsOrMsg === 'string') msg = fieldsOrMsg
      else if (fieldsOrMsg instanceof Error) fields = { err: fieldsOrMsg }
      else fields = fieldsOrMsg
      const line: Record<string, unknown> = { level: LOG_LEVELS[level], time: Date.now(), name: this.name }
      Object.assign(line, redact(this.bindings))
      if (fields) Object.assign(line, redact(fields))
      if (msg !== undefined) line.msg = msg
      let text: string
      try {
        text = JSON.stringify(line)
      } catch {
        text = JSON.stringify({ level: line.level, time: line.time, name: this.name, msg, logError: 'unserializable fields' })
      }
      try {
        this.current.sink.write(text + '\n')
      } catch {
        // Logging never throws into the caller.
      }
    }) as LogFn
  }
}

const subsystems = new Map<string, Logger>()

/** The logger of one subsystem (e.g. `hearth:xrpc`), following the global logging settings. */
export function subsystemLogger(name: string): Logger {
  let logger = subsystems.get(name)
  if (!logger) {
    logger = new JsonLogger(name, {}, null)
    subsystems.set(name, logger)
  }
  return logger
}

/** A standalone logger with its own settings and sink (tests, tools). */
export function createLogger(opts: { name?: string; config?: Partial<LogConfig>; sink?: LogSink } = {}): Logger {
  const config: LogConfig = { enabled: true, level: 'info', systems: [], destination: null, ...opts.config }
  const sink = opts.sink ?? sinkFor(config.destination)
  return new JsonLogger(opts.name ?? 'hearth', {}, { config, sink })
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ config: { enabled: false }, sink: { write: () => {} } })

/**
 * A copy of `value` safe to log: credential-named keys replaced, errors flattened to
 * `{ type, message, code, stack }`, byte arrays summarised, depth and cycles bounded.
 */
export function redact(value: unknown): unknown {
  return redactValue(value, 0, new WeakSet())
}

const MAX_DEPTH = 8

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString()
    if (typeof value === 'function' || typeof value === 'symbol') return undefined
    return value
  }
  if (seen.has(value)) return '[circular]'
  if (depth >= MAX_DEPTH) return '[depth]'
  seen.add(value)
  try {
    if (value instanceof Error) return serializeError(value, depth, seen)
    if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`
    if (value instanceof Date) return value.toISOString()
    if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1, seen))
    const toJson = (value as { toJSON?: unknown }).toJSON
    if (typeof toJson === 'function' && !(value instanceof Map)) {
      return redactValue((value as { toJSON(): unknown }).toJSON(), depth + 1, seen)
    }
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      if (SECRET_KEY_RE.test(key)) out[key] = REDACTED
      else out[key] = redactValue((value as Record<string, unknown>)[key], depth + 1, seen)
    }
    return out
  } finally {
    seen.delete(value)
  }
}

function serializeError(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name || err.constructor?.name, message: err.message }
  const extra = err as unknown as Record<string, unknown>
  for (const key of ['code', 'status', 'error'] as const) {
    if (extra[key] !== undefined && typeof extra[key] !== 'object') out[key] = extra[key]
  }
  if (err.stack) out.stack = err.stack
  if (err.cause !== undefined) out.cause = redactValue(err.cause, depth + 1, seen)
  return out
}
