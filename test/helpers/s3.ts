// An S3-compatible server for tests: s3rver, run as its own process on loopback (never inside
// Hearth's process), with its objects in a temp folder. It can be stopped and started again on
// the same port and folder, to test an object store that goes away and comes back. Also a TCP
// proxy in front of it that can be told to stall, for the timeout tests.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('./s3rver-main.cjs', import.meta.url))

export const S3_ACCESS_KEY = 'S3RVER'
export const S3_SECRET_KEY = 'S3RVER'

export interface TestS3 {
  url: string
  port: number
  bucket: string
  directory: string
  /** The PDS_BLOBSTORE_S3_* environment for a server using this bucket (at `url`, or another). */
  env(overrides?: { endpoint?: string; bucket?: string }): Record<string, string>
  stop(): Promise<void>
  /** Starts the server again on the same port and folder (nothing if it runs). */
  start(): Promise<void>
  close(): Promise<void>
}

export async function startS3(opts: { bucket?: string; buckets?: string[] } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? 'hearth-test'
  const directory = mkdtempSync(join(tmpdir(), 'hearth-s3rver-'))
  let child: ChildProcess | null = null
  let port = 0
  const boot = async () => {
    if (child && child.exitCode === null) return
    const proc = spawn(process.execPath, [MAIN, directory, String(port), bucket, ...(opts.buckets ?? [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child = proc
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: proc.stdout! })
      rl.once('line', (l) => {
        rl.close()
        resolve(l)
      })
      proc.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)))
    })
    port = (JSON.parse(line) as { port: number }).port
  }
  await boot()
  const stop = async () => {
    const proc = child
    child = null
    if (!proc || proc.exitCode !== null) return
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve())
      proc.kill('SIGKILL')
    })
  }
  const s3: TestS3 = {
    get url() {
      return `http://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    bucket,
    directory,
    env(o = {}) {
      return {
        PDS_BLOBSTORE_S3_BUCKET: o.bucket ?? bucket,
        PDS_BLOBSTORE_S3_REGION: 'us-east-1',
        PDS_BLOBSTORE_S3_ENDPOINT: o.endpoint ?? s3.url,
        PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: 'true',
        PDS_BLOBSTORE_S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
        PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      }
    },
    stop,
    start: boot,
    async close() {
      await stop()
      rmSync(directory, { recursive: true, force: true })
    },
  }
  return s3
}

export interface StallingProxy {
  url: string
  /** While stalled, bytes from either side are held, not forwarded; new connections too. */
  stall(on: boolean): void
  /** Connections accepted so far, and the most that were open at once. */
  connections(): { total: number; peak: number }
  close(): Promise<void>
}

/** A TCP proxy on loopback in front of `target` that forwards until told to stall. */
export async function startStallingProxy(targetPort: number): Promise<StallingProxy> {
  let stalled = false
  let total = 0
  let open = 0
  let peak = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    total++
    peak = Math.max(peak, ++open)
    client.once('close', () => open--)
    const upstream = net.connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => {
        // A stalled proxy reads and drops: the peer sees a connection that never answers.
        if (!stalled) to.write(chunk)
      })
      from.on('close', () => to.destroy())
      from.on('error', () => to.destroy())
    }
    forward(client, upstream)
    forward(upstream, client)
    client.on('close', () => sockets.delete(client))
    upstream.on('close', () => sockets.delete(upstream))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stall(on) {
      stalled = on
    },
    connections: () => ({ total, peak }),
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
