// The `hearth` command. `hearth serve` is what `npm start` runs.
//
// The server itself is not built yet (issue 3 builds it): for now `serve` says so and exits 0,
// so that `npm start` works from a fresh clone and tells the truth about what is there.
import { hearthVersion } from '../version.ts'
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const USAGE = `Usage: hearth <command> [options]

Hearth: an AT Protocol Personal Data Server (PDS).

Commands:
  serve            run the PDS (configured by PDS_* variables or ./.env; none needed locally)
  help             print this help

Options:
  -h, --help       print this help
  -v, --version    print Hearth's version
`

function version(): string {
  return hearthVersion()
}

async function serve(io: Io): Promise<void> {
  const { loadConfig, ConfigError } = await import('../config.ts')
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
  const host = process.env.HEARTH_LISTEN_HOST ?? (config.service.localMode ? '127.0.0.1' : '0.0.0.0')
  const server = await startServer(config, { host })
  io.out(`Hearth ${version()} listening on ${server.url} (data in ${config.db.dataDirectory})\n`)
  if (config.secrets.generated.length > 0) {
    io.out(`Generated secrets (${config.secrets.generated.join(', ')}) are kept in ${config.secrets.file}\n`)
  }
  if (config.identity.localPlc) io.out(`Local did:plc directory: ${config.identity.plcUrl}\n`)
  io.out(
    'Create the first account with the Bluesky client library, e.g.\n' +
      `  new AtpAgent({ service: '${server.url}' }).createAccount({ handle: 'alice${config.identity.serviceHandleDomains[0]}', email, password${config.invites.required ? ', inviteCode' : ''} })\n`,
  )
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    io.out(`${signal}: shutting down\n`)
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
}

const stdio: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}

/** Runs the CLI with the given arguments (without `node` and the script); returns the exit code, or -1 while `serve` keeps running. */
export function main(argv: string[], io: Io = stdio): number {
  const [command, ...rest] = argv
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
  const code = main(process.argv.slice(2))
  if (code >= 0) process.exitCode = code
}
