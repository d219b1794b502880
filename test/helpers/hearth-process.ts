// Hearth as `npm start` runs it (the bundle dist/hearth.mjs, plain node, its own process) on a
// data directory on disk, for the harnesses that must see the process itself: the fuzzer (did a
// request end it?) and the crash test (kill -9, restart on the same directory).
import { execFileSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onFreePort, spawnPds } from '../../bench/server/processes.ts'

export const HEARTH_ADMIN_PASSWORD = 'admin-pass-for-harness'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
// The node flags of package.json's `start` script (with the preload that sizes the thread pool).
const START_NODE_FLAGS = ['--max-semi-space-size=2', '--require', fileURLToPath(new URL('../../bin/threadpool.cjs', import.meta.url))]

let built = false

/** Builds dist/hearth.mjs once per process (scripts/build.mjs, a fraction of a second). */
export function buildBundle(): void {
  if (built) return
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url))], { cwd: ROOT, stdio: 'inherit' })
  built = true
}

export interface HearthProcess {
  url: string
  port: number
  pid: number
  child: ChildProcess
  /** Resolves with how the process ended (code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Whether it is still running. */
  alive(): boolean
  /** Every line it wrote to stdout/stderr since it became ready (its log, with stacks). */
  lines: string[]
  /** Called for each new output line. */
  onLine(fn: (line: string) => void): void
  /** SIGKILL, no chance to flush or close anything; resolves once it is gone. */
  kill9(): Promise<void>
  /** SIGTERM (graceful), SIGKILL after 10 s. */
  stop(): Promise<void>
}

export interface HearthProcessOptions {
  dataDir: string
  plcUrl: string
  /** Default a free port (keep the same one across restarts so clients' URLs stay valid). */
  port?: number
  env?: Record<string, string>
}

/** The settings both harnesses run with; `env` overrides or adds. */
export function harnessEnv(port: number, dataDir: string, plcUrl: string): Record<string, string> {
  return {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: `${dataDir}/blocks`,
    PDS_DID_PLC_URL: plcUrl,
    PDS_JWT_SECRET: 'jwt-secret-for-the-harness-0123456789abcdef',
    PDS_ADMIN_PASSWORD: HEARTH_ADMIN_PASSWORD,
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: '3c'.repeat(31) + '07',
    PDS_INVITE_REQUIRED: 'false',
    PDS_DEV_MODE: 'true',
    PDS_CRAWLERS: '',
    HEARTH_LISTEN_HOST: '127.0.0.1',
    // Errors only, with their stacks: what a harness quotes when a request went wrong.
    LOG_ENABLED: 'true',
    LOG_LEVEL: 'error',
  }
}

/** Starts the bundle on `dataDir` and waits until it serves its methods. */
export async function startHearthProcess(opts: HearthProcessOptions): Promise<HearthProcess> {
  buildBundle()
  return onFreePort(opts.port, (port) => startOnce(opts, port))
}

async function startOnce(opts: HearthProcessOptions, port: number): Promise<HearthProcess> {
  const url = `http://127.0.0.1:${port}`
  const env = { ...harnessEnv(port, opts.dataDir, opts.plcUrl), ...opts.env }
  const { child, stop } = await spawnPds({ name: 'Hearth', args: [...START_NODE_FLAGS, 'dist/hearth.mjs', 'serve'], env, url, timeoutMs: 60_000 })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode })
    else child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const lines: string[] = []
  const listeners: Array<(line: string) => void> = []
  for (const stream of [child.stdout, child.stderr]) {
    let partial = ''
    stream?.on('data', (d: Buffer) => {
      partial += d.toString()
      let nl: number
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl)
        partial = partial.slice(nl + 1)
        lines.push(line)
        for (const fn of listeners) fn(line)
      }
    })
  }
  const alive = () => child.exitCode === null && child.signalCode === null
  return {
    url,
    port,
    pid: child.pid as number,
    child,
    exited,
    alive,
    lines,
    onLine: (fn) => listeners.push(fn),
    async kill9() {
      if (alive()) child.kill('SIGKILL')
      await exited
    },
    stop,
  }
}
