// Starts each PDS of the server benchmark in a child process of its own (so that its memory
// is measured alone) on a free loopback port, with its data in a fresh temp directory.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OFFICIAL_DIR } from './official.ts'
import { OFFICIAL_05_DIR, OFFICIAL_05_NODE } from './official-05.ts'

export interface PdsProcess {
  name: string
  url: string
  pid: number
  /** Its data directory (removed by stop()). */
  dataDir: string
  /** Resident set size in MB, from /proc/<pid>/status (null where /proc is missing). */
  rssMb(): number | null
  /** CPU time the process has used so far (user + system), in ms, from /proc/<pid>/stat. */
  cpuMs(): number | null
  /** Stops the process, keeping its data, and starts it again on the same data and port. */
  restart(): Promise<PdsProcess>
  stop(): Promise<void>
}

export interface PdsSecrets {
  jwtSecret: string
  adminPassword: string
  rotationKeyHex: string
}

/** Fixed, benchmark-only secrets; the servers live for the run only, on loopback. */
export const BENCH_SECRETS: PdsSecrets = {
  jwtSecret: 'bench-jwt-secret-0123456789abcdef0123',
  adminPassword: 'bench-admin-password',
  rotationKeyHex: `${'b'.repeat(63)}1`,
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export function readCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces), closed by its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
  } catch {
    return null
  }
}

function readRssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return m ? Number(m[1]) / 1024 : null
  } catch {
    return null
  }
}

/**
 * The one public hostname of both servers. Not `localhost`: the official PDS then refuses to
 * start outside dev mode (its OAuth routes want an https public URL), and dev mode would turn on
 * its response validation. Clients still reach each server at http://localhost:<port>; nothing
 * in the benchmark resolves this name.
 */
export const BENCH_HOSTNAME = 'pds.bench.test'

/** Environment shared by both servers: the same settings under the official PDS's names. */
function commonEnv(port: number, dataDir: string, plcUrl: string, secrets: PdsSecrets): Record<string, string> {
  return {
    PDS_HOSTNAME: BENCH_HOSTNAME,
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: join(dataDir, 'blocks'),
    PDS_DID_PLC_URL: plcUrl,
    PDS_JWT_SECRET: secrets.jwtSecret,
    PDS_ADMIN_PASSWORD: secrets.adminPassword,
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: secrets.rotationKeyHex,
    PDS_INVITE_REQUIRED: 'false',
    PDS_RATE_LIMITS_ENABLED: 'false',
    PDS_DEV_MODE: 'false',
    PDS_CRAWLERS: '',
    LOG_ENABLED: 'false',
  }
}

/** A Hearth server's environment for a benchmark: the shared settings, listening on loopback only. */
export function hearthEnv(port: number, dataDir: string, plcUrl: string, secrets: PdsSecrets = BENCH_SECRETS): Record<string, string> {
  return { ...commonEnv(port, dataDir, plcUrl, secrets), HEARTH_LISTEN_HOST: '127.0.0.1' }
}

export interface SpawnedPds {
  child: ChildProcess
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
  stop(): Promise<void>
}

/**
 * Starts a PDS process and waits until it serves: ready once describeServer answers (Hearth
 * listens before its methods are registered, so an earlier health check could still meet
 * 501s). If the process exits first or the deadline passes, it is stopped and the error quotes
 * the end of its output. Only PATH, HOME, TMPDIR (and NODE_OPTIONS, the test runner's
 * HEARTH_BACKSTOP_LOG, and HEARTH_REOPEN_STORES for the first-touch rows without the reopening
 * at start) of the parent's environment are passed on: no stray PDS_* or LOG_* settings.
 */
export async function spawnPds(o: { name: string; node?: string; args: string[]; env: Record<string, string>; url: string; timeoutMs: number }): Promise<SpawnedPds> {
  const base: Record<string, string> = {}
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'NODE_OPTIONS', 'HEARTH_BACKSTOP_LOG', 'HEARTH_REOPEN_STORES']) if (process.env[k]) base[k] = process.env[k] as string
  const child: ChildProcess = spawn(o.node ?? process.execPath, o.args, {
    cwd: REPO_ROOT,
    env: { ...base, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const tail = () => output.trim().split('\n').slice(-8).join(' / ')
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
  const deadline = Date.now() + o.timeoutMs
  const port = Number(new URL(o.url).port)
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${o.name} exited before it was ready: ${tail()}`)
    try {
      const res = await fetch(`${o.url}/xrpc/com.atproto.server.describeServer`)
      await res.arrayBuffer()
      // Another process may hold the port (two servers started at once can be handed the same
      // free port): the answer counts only once this child is the one listening there.
      if (res.ok && listensOn(child.pid as number, port)) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${o.name} did not answer describeServer within ${o.timeoutMs} ms: ${tail()}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return { child, stop }
}

/**
 * Starts a server on `port`, or on a free port when none is given. A free port can be handed to
 * another process before this one listens on it (test files run in parallel): then the server
 * exits with EADDRINUSE, and another free port is tried (three attempts in all).
 */
export async function onFreePort<T>(port: number | undefined, start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(port ?? (await freePort()))
    } catch (err) {
      if (port !== undefined || attempt >= 3 || !/EADDRINUSE/.test(String((err as Error).message))) throw err
    }
  }
}

/**
 * Whether process `pid` holds the TCP socket listening on `port` (Linux's /proc: the listening
 * sockets' inodes against the process's descriptors). True where /proc cannot tell.
 */
export function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>()
  let tables = 0
  try {
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string
      try {
        text = readFileSync(table, 'utf8')
      } catch {
        continue
      }
      tables++
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/)
        // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is the tenth field.
        if (f.length < 10 || f[3] !== '0A') continue
        if (Number.parseInt((f[1] as string).split(':')[1] as string, 16) === port) inodes.add(f[9] as string)
      }
    }
    if (tables === 0) return true
    if (inodes.size === 0) return false
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m && inodes.has(m[1] as string)) return true
    }
    return false
  } catch {
    return true
  }
}

async function launch(
  name: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  dataDir: string,
  timeoutMs: number,
  node?: string,
): Promise<PdsProcess> {
  const url = `http://127.0.0.1:${port}`
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true })
  let spawned: SpawnedPds
  try {
    spawned = await spawnPds({ name, node, args, env, url, timeoutMs })
  } catch (err) {
    cleanup()
    throw err
  }
  const stop = async () => {
    await spawned.stop()
    cleanup()
  }
  const restart = async () => {
    await spawned.stop()
    return launch(name, args, env, port, dataDir, timeoutMs, node)
  }
  const pid = spawned.child.pid as number
  return { name, url, pid, dataDir, rssMb: () => readRssMb(pid), cpuMs: () => readCpuMs(pid), restart, stop }
}

/** Which official PDS: 0.5.35 (the reference, under its own Node 22) or 0.4.217 (optional). */
export type OfficialRelease = '0.5.35' | '0.4.217'

export async function startOfficialProcess(
  plcUrl: string,
  secrets: PdsSecrets,
  extraEnv: Record<string, string> = {},
  release: OfficialRelease = '0.4.217',
): Promise<PdsProcess> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-official-'))
  const v05 = release === '0.5.35'
  // 0.5.x refuses a PLC URL whose host is an IP address.
  const plc = v05 ? plcUrl.replace('//127.0.0.1:', '//localhost:') : plcUrl
  const env = {
    ...commonEnv(port, dataDir, plc, secrets),
    ...extraEnv,
    // 0.5.x fetches DID documents through its SSRF-safe fetch, which refuses plain http and
    // loopback outside dev mode: the benchmark's PLC directory and AppView are both.
    ...(v05 ? { PDS_DISABLE_SSRF_PROTECTION: 'true' } : {}),
    HEARTH_BENCH_OFFICIAL_DIR: v05 ? OFFICIAL_05_DIR : OFFICIAL_DIR,
    // The official runs under its own Node, without the benchmark's flags.
    NODE_OPTIONS: '',
  }
  const main = fileURLToPath(new URL('./official-main.cjs', import.meta.url))
  return launch(`official PDS ${release}`, [main], env, port, dataDir, 60_000, v05 ? OFFICIAL_05_NODE : undefined)
}

// The node flags of package.json's `start` script: a smaller young generation (2 MB semi-spaces
// instead of V8's 16) keeps resident memory down at no measurable cost to throughput here, and
// the preload that sizes libuv's thread pool (16 threads instead of 4).
const START_NODE_FLAGS = ['--max-semi-space-size=2', '--require', fileURLToPath(new URL('../../bin/threadpool.cjs', import.meta.url))]
// And its allocator settings (glibc reads them at process start): two malloc arenas instead of
// one per thread, and a fixed mmap threshold, so that freed large buffers (1 MiB uploads, 16 MB
// scrypt work areas) go back to the system instead of staying in an arena. See BENCHMARKS.md.
const START_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' }

/**
 * BENCH_HEARTH_NODE: the node binary that runs Hearth in the server rows (default: the bench's
 * own, as `npm start` would run it here). An operator switching in place from the official 0.5.x
 * runs Node 22; e.g. `BENCH_HEARTH_NODE=/path/to/node22/bin/node npm run bench` measures Hearth
 * there (its SQLite binding is Node-API, so this tree's node_modules load under either).
 */
const HEARTH_NODE = process.env.BENCH_HEARTH_NODE || undefined

export async function startHearthProcess(plcUrl: string, secrets: PdsSecrets, extraEnv: Record<string, string> = {}): Promise<PdsProcess> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-hearth-'))
  const env = { ...START_ENV, ...hearthEnv(port, dataDir, plcUrl, secrets), ...extraEnv, HEARTH_LISTEN_HOST: '127.0.0.1' }
  // As `npm start` runs it: the bundle scripts/build.mjs makes, under plain node.
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url))], { stdio: 'inherit' })
  return launch('Hearth', [...START_NODE_FLAGS, 'dist/hearth.mjs', 'serve'], env, port, dataDir, 60_000, HEARTH_NODE)
}

/**
 * A Hearth built in another tree (its `dist/hearth.mjs`, `npm run build` done there), started as
 * `npm start` starts it, on a fresh data directory that stop() removes: the before/after
 * comparisons run one of these per tree.
 */
export async function startHearthTree(tree: string, plcUrl: string, opts: { env?: Record<string, string>; nodeArgs?: string[]; node?: string } = {}): Promise<PdsProcess> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-tree-'))
  const env = { ...START_ENV, ...hearthEnv(port, dataDir, plcUrl), ...opts.env }
  return launch(tree, [...START_NODE_FLAGS, ...(opts.nodeArgs ?? []), join(tree, 'dist/hearth.mjs'), 'serve'], env, port, dataDir, 60_000, opts.node)
}
