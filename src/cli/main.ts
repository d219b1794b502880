// The `hearth` command. `hearth serve` is what `npm start` runs.
//
// The server itself is not built yet (issue 3 builds it): for now `serve` says so and exits 0,
// so that `npm start` works from a fresh clone and tells the truth about what is there.
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const USAGE = `Usage: hearth <command> [options]

Hearth: an AT Protocol Personal Data Server (PDS).

Commands:
  serve            run the PDS (not built yet: prints a notice and exits)
  help             print this help

Options:
  -h, --help       print this help
  -v, --version    print Hearth's version
`

function version(): string {
  const pkgUrl = new URL('../../package.json', import.meta.url)
  const pkg = JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version?: string }
  return pkg.version ?? 'unknown'
}

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
}

const stdio: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}

/** Runs the CLI with the given arguments (without `node` and the script) and returns the exit code. */
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
        io.out('Usage: hearth serve\n\nRuns the PDS. Not built yet: issue 3 builds the server.\n')
        return 0
      }
      io.out(
        `Hearth ${version()} (Node ${process.versions.node})\n` +
          'The PDS server is not built yet: the repository core comes first, and the server is\n' +
          'the next milestone (issue 3). Nothing is listening; exiting.\n',
      )
      return 0
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
  process.exitCode = main(process.argv.slice(2))
}
