// The `hearth` command: `hearth serve` (what `npm start` runs) and the operator's commands,
// which do what the official PDS's pdsadmin does (account, invite, request-crawl) plus backup
// and restore of the data directory.
import { createInterface } from 'node:readline/promises'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { hearthVersion } from '../version.ts'
import { type CliContext, CliError, type Io } from './context.ts'

export type { Io } from './context.ts'

const USAGE = `Usage: hearth <command> [options]

Hearth: an AT Protocol Personal Data Server (PDS).

Commands:
  serve                        run the PDS (configured by PDS_* variables or ./.env; none needed locally)
  account list|create|delete|takedown|untakedown|reset-password
                               manage accounts on the running server (hearth account --help)
  invite create [--uses <n>]   create an invite code
  request-crawl [<hosts>]      ask relays (default PDS_CRAWLERS) to crawl this PDS
  backup <dest-dir | s3://bucket/prefix> [--every 6h] [--keep 7]
                               copy the data directory, safely while the server runs; to a
                               bucket, on a schedule keeping the newest N (hearth backup --help)
  restore <backup-dir | s3://bucket/prefix>
                               put a backup in place (over existing data: server stopped, --force)
  blobs to-s3|to-disk          copy the blob store into an S3 bucket or back, while the server runs
  email-codes <handle>         print an account's pending email codes (when email is not configured)
  help                         print this help

The operator commands read PDS_* from the environment and ./.env as \`serve\` does, and talk to
the running server with PDS_ADMIN_PASSWORD.

Options:
  -h, --help       print this help
  -v, --version    print Hearth's version
`

function version(): string {
  return hearthVersion()
}

async function serve(io: Io): Promise<void> {
  // Once the reader of stdout or stderr is gone (the process that piped them died, a closed
  // terminal), every write fails with EPIPE, emitted as an error event. Unhandled, the last-resort
  // handler reported it on stderr, which failed the same way, round and round without yielding,
  // and a SIGTERM's shutdown never got to exit. What the server cannot deliver there is dropped.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  const { loadConfig, ConfigError } = await import('../config/index.ts')
  const { configureLogging } = await import('../logger.ts')
  const { startServer } = await import('../server.ts')
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`configuration error: ${err.message}`)
    throw err
  }
  configureLogging(config.log)
  for (const w of config.warnings) io.err(`warning: ${w}\n`)
  const { checkDataIdentity } = await import('./data-identity.ts')
  checkDataIdentity(config)
  const host = process.env.HEARTH_LISTEN_HOST ?? (config.service.localMode ? '127.0.0.1' : '0.0.0.0')
  const server = await startServer(config, { host })
  // Start-up grew the young generation to its maximum and left its garbage (module loading, the
  // schemas' parse, start-up's compiled code): all given back once, now, rather than when V8's
  // memory reducer gets to it (10-20 s later, or never on a server that gets a request now and
  // then). A request arriving meanwhile waits for it (~20 ms, once).
  const { memoryReducingCollection, startIdleCollection } = await import('./idle-gc.ts')
  await memoryReducingCollection()
  // Gives back the young generation and a burst's garbage once the server falls idle.
  const stopIdleCollection = startIdleCollection()
  io.out(`Hearth ${version()} listening on ${server.url} (data in ${config.db.dataDirectory})\n`)
  if (config.secrets.generated.length > 0) {
    io.out(`Generated secrets (${config.secrets.generated.join(', ')}) are kept in ${config.secrets.file}\n`)
  }
  if (!config.email) {
    io.out('Email is not configured (PDS_EMAIL_SMTP_URL, PDS_EMAIL_FROM_ADDRESS): codes are kept, not sent; read them with: node bin/hearth.js email-codes <handle>\n')
  }
  if (config.identity.localPlc) io.out(`Local did:plc directory: ${server.config.identity.plcUrl} (for resolvers: PDS_DID_PLC_URL / plcUrl)\n`)
  io.out(
    `Create the first account with: node bin/hearth.js account create <email> alice${config.identity.serviceHandleDomains[0]}\n`,
  )
  // OTLP push only when asked for (the standard variables): the SDK is not loaded otherwise.
  let stopOtlp: (() => Promise<void>) | null = null
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) {
    const { startOtlpPush } = await import('../metrics/index.ts')
    const intervalMs = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL) || 60_000
    stopOtlp = await startOtlpPush({ intervalMs, serviceVersion: version() })
    io.out(`Pushing metrics over OTLP every ${intervalMs / 1000} s\n`)
  }
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    stopIdleCollection()
    io.out(`${signal}: shutting down\n`)
    server
      .close()
      .then(() => stopOtlp?.())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

const stdio: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  async confirm(question) {
    if (!process.stdin.isTTY) return null
    const rl = createInterface({ input: process.stdin, output: process.stdout })
    try {
      return /^y(es)?$/i.test((await rl.question(question)).trim())
    } finally {
      rl.close()
    }
  },
}

type Command = (args: string[], ctx: CliContext) => Promise<number>

const COMMANDS: Record<string, () => Promise<Command>> = {
  account: async () => (await import('./admin-commands.ts')).accountCommand,
  invite: async () => (await import('./admin-commands.ts')).inviteCommand,
  'request-crawl': async () => (await import('./admin-commands.ts')).requestCrawlCommand,
  backup: async () => (await import('./data-commands.ts')).backupCommand,
  blobs: async () => (await import('./blob-commands.ts')).blobsCommand,
  restore: async () => (await import('./data-commands.ts')).restoreCommand,
  'email-codes': async () => (await import('./email-codes.ts')).emailCodesCommand,
}

/**
 * Runs an operator command (anything but `serve`) with an injectable environment, working
 * directory and output; resolves to the exit code. Errors are reported, never thrown.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv
  const load = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (!load) return main(argv, ctx.io)
  try {
    return await (await load())(rest, ctx)
  } catch (err) {
    if (err instanceof CliError) {
      ctx.io.err(`hearth: ${err.message}\n`)
      return err.exitCode
    }
    ctx.io.err(`hearth: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

/**
 * Runs the CLI with the given arguments (without `node` and the script): the exit code, a
 * promise of it for the operator commands, or -1 while `serve` keeps running.
 */
export function main(argv: string[], io: Io = stdio): number | Promise<number> {
  const [command, ...rest] = argv
  if (command !== undefined && Object.hasOwn(COMMANDS, command)) {
    return run(argv, { io, env: process.env, cwd: process.cwd() })
  }
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE)
      return 0
    case '--version':
    case '-v':
      io.out(`hearth ${version()}\n`)
      return 0
    case 'serve':
      if (rest.includes('--help') || rest.includes('-h')) {
        io.out('Usage: hearth serve\n\nRuns the PDS. With no configuration: http://localhost:2583, data in ./data.\n')
        return 0
      }
      void serve(io).catch((err) => {
        io.err(`hearth: ${err instanceof Error ? err.message : String(err)}\n`)
        process.exit(1)
      })
      return -1
    case undefined:
      io.err(USAGE)
      return 2
    default:
      io.err(`hearth: unknown command '${command}'\n\n${USAGE}`)
      return 2
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  void Promise.resolve(main(process.argv.slice(2))).then((code) => {
    if (code >= 0) process.exitCode = code
  })
}
