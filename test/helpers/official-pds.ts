// The official PDS (@atproto/pds 0.4.217) as a child process on loopback, for tests that need
// the real thing beside Hearth: in-place switches onto its data directory, migrations both ways.
//
// It is installed on demand into bench/.official/ (bench/server/official.ts) and run through
// bench/server/official-main.cjs, its production start path. 0.4.217 is meant for Node 20: when
// the tests run under another Node, HEARTH_OFFICIAL_NODE names a Node 20 binary to run it (and
// to build its better-sqlite3 with); the default is the Node running the tests.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ensureOfficial, OFFICIAL_DIR } from '../../bench/server/official.ts'
import { freePort, spawnPds } from '../../bench/server/processes.ts'

export interface OfficialPds {
  url: string
  port: number
  pid: number
  dataDir: string
  /** The environment it runs with (PDS_* settings), e.g. to start Hearth on the same. */
  env: Record<string, string>
  /** Stops it (SIGTERM, then SIGKILL after 10 s); the data directory stays. */
  stop(): Promise<void>
}

export interface OfficialPdsOptions {
  dataDir: string
  plcUrl: string
  /** Listening port; default a free one. */
  port?: number
  /** Extra or overriding PDS_* settings. */
  env?: Record<string, string>
}

const MAIN = fileURLToPath(new URL('../../bench/server/official-main.cjs', import.meta.url))
const SELF = fileURLToPath(import.meta.url)
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The Node binary the official PDS runs under. */
export function officialNode(): string {
  return process.env.HEARTH_OFFICIAL_NODE || process.execPath
}

/** The secrets and settings both servers share in tests (the official's names and meanings). */
export function officialEnv(opts: { port: number; dataDir: string; plcUrl: string }): Record<string, string> {
  return {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(opts.port),
    PDS_DATA_DIRECTORY: opts.dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: join(opts.dataDir, 'blocks'),
    PDS_DID_PLC_URL: opts.plcUrl,
    PDS_JWT_SECRET: 'official-jwt-secret-for-tests-0123456789',
    PDS_ADMIN_PASSWORD: 'official-admin-password',
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: '5f'.repeat(31) + '01',
    PDS_INVITE_REQUIRED: 'false',
    PDS_RATE_LIMITS_ENABLED: 'false',
    // localhost needs dev mode in the official (its OAuth wants an https URL otherwise).
    PDS_DEV_MODE: 'true',
    PDS_CRAWLERS: '',
    // Preferences are only served with an AppView configured; nothing calls it in these tests.
    PDS_BSKY_APP_VIEW_URL: 'http://localhost:9',
    PDS_BSKY_APP_VIEW_DID: 'did:web:appview.invalid',
    LOG_ENABLED: 'false',
  }
}

let installing: Promise<void> | null = null

/**
 * Installs the official PDS if needed, for the ABI of the Node it will run under. Under another
 * Node than the current one the install runs in a child process of that Node, so npm and
 * node-gyp build better-sqlite3 for it.
 */
export function ensureOfficialInstalled(): Promise<void> {
  installing ??= withInstallLock(async () => {
    const node = officialNode()
    if (node === process.execPath) {
      const why = await ensureOfficial((line) => process.stderr.write(`${line}\n`))
      if (why) throw new Error(why)
      return
    }
    const env: Record<string, string> = { ...(process.env as Record<string, string>) }
    // The running Node's headers (CI's Node 24 sets this) would build for the wrong ABI.
    delete env.npm_config_nodedir
    delete env.NPM_CONFIG_NODEDIR
    env.PATH = `${dirname(node)}:${env.PATH ?? ''}`
    await new Promise<void>((resolve, reject) => {
      const child = spawn(node, ['--import', 'tsx', SELF, '--install'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] })
      child.on('error', reject)
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`installing the official PDS under ${node} failed (exit ${code})`))))
    })
  })
  return installing
}

const LOCK_DIR = join(tmpdir(), 'hearth-official-pds-install.lock')
const LOCK_STALE_MS = 10 * 60_000

/**
 * Test files run in parallel processes: only one may install into bench/.official at a time
 * (a directory is created atomically, so it serves as the lock).
 */
async function withInstallLock(fn: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      mkdirSync(LOCK_DIR)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      try {
        if (Date.now() - statSync(LOCK_DIR).mtimeMs > LOCK_STALE_MS) rmSync(LOCK_DIR, { recursive: true, force: true })
      } catch {
        // Released meanwhile.
      }
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  try {
    await fn()
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true })
  }
}

/** Starts the official PDS on `dataDir` (created or reused) and waits until it answers. */
export async function startOfficialPds(opts: OfficialPdsOptions): Promise<OfficialPds> {
  await ensureOfficialInstalled()
  const port = opts.port ?? (await freePort())
  const env = { ...officialEnv({ port, dataDir: opts.dataDir, plcUrl: opts.plcUrl }), ...opts.env }
  const url = `http://localhost:${port}`
  const { child, stop } = await spawnPds({
    name: 'official PDS',
    node: officialNode(),
    args: [MAIN],
    // NODE_OPTIONS is cleared: the official runs under its own Node, not the tests' flags.
    env: { ...env, HEARTH_BENCH_OFFICIAL_DIR: OFFICIAL_DIR, NODE_OPTIONS: '' },
    url,
    timeoutMs: 60_000,
  })
  return { url, port, pid: child.pid as number, dataDir: opts.dataDir, env, stop }
}

/** The Node version the official PDS runs under (for messages). */
export function officialNodeVersion(): string {
  return execFileSync(officialNode(), ['--version'], { encoding: 'utf8' }).trim()
}

// `node --import tsx test/helpers/official-pds.ts --install`: the install step, run under the
// Node that will run the official PDS.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url && process.argv.includes('--install')) {
  ensureOfficial((line) => process.stderr.write(`${line}\n`)).then(
    (why) => {
      if (why) {
        process.stderr.write(`${why}\n`)
        process.exit(1)
      }
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`)
      process.exit(1)
    },
  )
}
