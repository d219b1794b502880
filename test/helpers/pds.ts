// A real Hearth on loopback for end-to-end tests: its data in a temp directory, a real PLC
// directory (@did-plc/server, in memory) beside it, and the official client library to talk to it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import { loadConfig } from '../../src/config/index.ts'
import { type Hearth, startServer } from '../../src/server.ts'
import { startReferencePlc } from '../identity/helpers.ts'
import { startS3 } from './s3.ts'

export interface TestPds {
  hearth: Hearth
  url: string
  plcUrl: string
  dataDir: string
  adminPassword: string
  agent(): AtpAgent
  /** Creates an account through the API and returns a logged-in agent. */
  createAccount(name: string, opts?: { password?: string }): Promise<{ agent: AtpAgent; did: string; handle: string; password: string }>
  /** Restarts Hearth on the same data directory (the PLC directory keeps running). */
  restart(): Promise<void>
  close(): Promise<void>
}

export interface TestPdsOptions {
  env?: Record<string, string>
  /** Reuse a data directory (e.g. to test a restart or an in-place switch). */
  dataDir?: string
}

const ADMIN_PASSWORD = 'admin-pass-for-tests'
const JWT_SECRET = 'jwt-secret-for-tests-0123456789abcdef'
const ROTATION_KEY = 'a'.repeat(63) + '1'

export async function startTestPds(opts: TestPdsOptions = {}): Promise<TestPds> {
  // HEARTH_TEST_BLOBSTORE=s3 runs a test file's servers on a bucket (an s3rver process each)
  // instead of the disk, so the blob tests can be run against both stores.
  const s3 = process.env.HEARTH_TEST_BLOBSTORE === 's3' && !opts.env?.PDS_BLOBSTORE_S3_BUCKET ? await startS3() : null
  const plc = await startReferencePlc()
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hearth-pds-'))
  const env: Record<string, string> = {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: '0',
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: plc.url,
    PDS_JWT_SECRET: JWT_SECRET,
    PDS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: ROTATION_KEY,
    PDS_INVITE_REQUIRED: 'false',
    PDS_DEV_MODE: 'true',
    HEARTH_VALIDATE_RESPONSES: 'true',
    ...s3?.env(),
    ...opts.env,
  }
  const boot = () => startServer(loadConfig(env, { dotenv: false }))
  let hearth = await boot()
  let counter = 0
  const pds: TestPds = {
    get hearth() {
      return hearth
    },
    get url() {
      return hearth.url
    },
    plcUrl: plc.url,
    dataDir,
    adminPassword: ADMIN_PASSWORD,
    agent: () => new AtpAgent({ service: hearth.url }),
    async createAccount(name, o = {}) {
      const handle = `${name}${counter++}.test`
      const password = o.password ?? `pw-${name}-secret`
      const agent = new AtpAgent({ service: hearth.url })
      await agent.createAccount({ handle, email: `${handle}@example.com`, password })
      return { agent, did: agent.session?.did as string, handle, password }
    },
    async restart() {
      await hearth.close()
      // Keep the same port so agents created before the restart still reach it.
      env.PDS_PORT = String(hearth.port)
      hearth = await boot()
      // Give clients' pooled keep-alive sockets to the old server time to see their close, so
      // the next request opens a fresh connection instead of writing into a closing one.
      await new Promise((resolve) => setTimeout(resolve, 50))
    },
    async close() {
      await hearth.close()
      await plc.close()
      await s3?.close()
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return pds
}
