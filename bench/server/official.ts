// The official PDS for the side-by-side server benchmark, installed on demand into a cache
// folder (bench/.official/) rather than into the project: it would add a second native
// better-sqlite3 build to every CI install. The folder ignores itself in git.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const OFFICIAL_VERSION = '0.4.217'
/** The @atproto/xrpc-server that 0.4.217 declares (^0.10.18): a newer one turns bad-param 400s into 500s. */
export const OFFICIAL_XRPC_SERVER = '0.10.18'

export const OFFICIAL_DIR = fileURLToPath(new URL('../.official/', import.meta.url))

const manifest = {
  name: 'hearth-bench-official-pds',
  private: true,
  description: 'The official PDS, installed by `npm run bench` for the side-by-side server benchmark.',
  dependencies: { '@atproto/pds': OFFICIAL_VERSION },
  overrides: { '@atproto/xrpc-server': OFFICIAL_XRPC_SERVER },
  allowScripts: { 'better-sqlite3': true },
}

// better-sqlite3 is not N-API: a build for one Node ABI does not load under another.
const ABI_STAMP = `${OFFICIAL_DIR}node-abi`

function abiMatches(): boolean {
  try {
    return readFileSync(ABI_STAMP, 'utf8').trim() === process.versions.modules
  } catch {
    return false
  }
}

function installed(): boolean {
  try {
    const pkg = JSON.parse(readFileSync(`${OFFICIAL_DIR}node_modules/@atproto/pds/package.json`, 'utf8')) as { version?: string }
    const xrpc = JSON.parse(readFileSync(`${OFFICIAL_DIR}node_modules/@atproto/xrpc-server/package.json`, 'utf8')) as { version?: string }
    const current = JSON.parse(readFileSync(`${OFFICIAL_DIR}package.json`, 'utf8')) as unknown
    return (
      pkg.version === OFFICIAL_VERSION &&
      xrpc.version === OFFICIAL_XRPC_SERVER &&
      JSON.stringify(current) === JSON.stringify(manifest) &&
      existsSync(`${OFFICIAL_DIR}node_modules/better-sqlite3/build/Release/better_sqlite3.node`)
    )
  } catch {
    return false
  }
}

/** Runs an install step, collecting its output; killed after `timeoutMs`. */
export function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, npm_config_loglevel: 'error' } })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ code: null, output: `${output}\n${err.message}` })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

/** The last lines of a failed step's output, for its error message. */
export function tail(output: string): string {
  return output.trim().split('\n').slice(-5).join(' / ')
}

/**
 * Makes sure the official PDS is installed in the cache folder; returns null when it is, or why
 * it is not (the server rows then show Hearth alone).
 */
export async function ensureOfficial(log: (line: string) => void): Promise<string | null> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  if (installed()) {
    if (abiMatches()) return null
    log(`rebuilding better-sqlite3 in ${OFFICIAL_DIR} for Node ${process.version}...`)
    const res = await run(npm, ['rebuild', 'better-sqlite3'], OFFICIAL_DIR, 8 * 60_000)
    if (res.code !== 0) return `rebuilding better-sqlite3 for Node ${process.version} failed (exit ${res.code}): ${tail(res.output)}`
    writeFileSync(ABI_STAMP, `${process.versions.modules}\n`)
    return null
  }
  mkdirSync(OFFICIAL_DIR, { recursive: true })
  writeFileSync(`${OFFICIAL_DIR}.gitignore`, '*\n')
  writeFileSync(`${OFFICIAL_DIR}package.json`, `${JSON.stringify(manifest, null, 2)}\n`)
  log(`installing @atproto/pds@${OFFICIAL_VERSION} into ${OFFICIAL_DIR} (first run only)...`)
  const res = await run(npm, ['install', '--no-audit', '--no-fund', '--omit=dev', '--no-package-lock'], OFFICIAL_DIR, 8 * 60_000)
  if (res.code !== 0) return `npm install of @atproto/pds@${OFFICIAL_VERSION} failed (exit ${res.code}): ${tail(res.output)}`
  if (!installed()) return `@atproto/pds@${OFFICIAL_VERSION} installed but incomplete (better-sqlite3 not built?)`
  writeFileSync(ABI_STAMP, `${process.versions.modules}\n`)
  return null
}
