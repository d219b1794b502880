// The operator commands against a running Hearth: most through `run()` in this process (fast),
// two through the real launcher in a child process (the entry point, exit codes, and a backup
// taken by another process while this one keeps writing). Then a restore into a fresh data
// directory and a server started on it.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AtpAgent } from '@atproto/api'
import { verifyRepoCar } from '@atproto/repo'
import { run } from '../../src/cli/main.ts'
import { decodeCbor } from '../../src/repo/cbor.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const COL = 'com.example.note'

let pds: TestPds
let work: string
let cwd: string
let env: Record<string, string>

function baseEnv(dataDir: string, port: number): Record<string, string> {
  const secrets = pds.hearth.services.config.secrets
  return {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: pds.plcUrl,
    PDS_JWT_SECRET: secrets.jwtSecret,
    PDS_ADMIN_PASSWORD: secrets.adminPassword,
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: secrets.plcRotationKeyK256PrivateKeyHex,
    PDS_INVITE_REQUIRED: 'false',
    PDS_DEV_MODE: 'true',
  }
}

async function hearth(args: string[], overrides: Record<string, string> = {}) {
  let out = ''
  let err = ''
  const code = await run(args, {
    io: { out: (t) => void (out += t), err: (t) => void (err += t) },
    env: { ...env, ...overrides },
    cwd,
  })
  return { code, out, err }
}

/** The real launcher in a child process (about a second each: keep these few). */
function spawnHearth(args: string[], childEnv: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/hearth.js'), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...childEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out, err }))
  })
}

async function canLogin(identifier: string, password: string): Promise<boolean> {
  try {
    await new AtpAgent({ service: pds.url }).login({ identifier, password })
    return true
  } catch {
    return false
  }
}

before(async () => {
  pds = await startTestPds()
  work = mkdtempSync(path.join(tmpdir(), 'hearth-cli-'))
  cwd = path.join(work, 'cwd')
  mkdirSync(cwd)
  env = baseEnv(pds.dataDir, pds.hearth.port)
})

after(async () => {
  await pds?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('account commands', () => {
  let did: string
  let password: string
  const handle = 'carol.test'

  test('account create (through the launcher) prints the DID and a generated password that logs in', async () => {
    const res = await spawnHearth(['account', 'create', 'carol@example.com', handle], env)
    assert.equal(res.code, 0, res.err)
    did = /DID\s+: (did:plc:[a-z2-7]+)/.exec(res.out)?.[1] as string
    password = /Password : (\S+)/.exec(res.out)?.[1] as string
    assert.ok(did, res.out)
    assert.match(password, /^[A-Za-z0-9]{24}$/)
    assert.match(res.out, /Save this password, it will not be displayed again/)
    assert.ok(await canLogin(handle, password))
  })

  test('account list shows handle, email, DID and status', async () => {
    const res = await hearth(['account', 'list'])
    assert.equal(res.code, 0, res.err)
    const lines = res.out.trim().split('\n')
    assert.match(lines[0], /^Handle\s+Email\s+DID\s+Status$/)
    const row = lines.find((l) => l.includes(did))
    assert.ok(row)
    assert.deepEqual(row.split(/\s+/), [handle, 'carol@example.com', did, 'active'])
  })

  test('takedown (by handle) refuses logins; untakedown (by handle or DID) lets them in again', async () => {
    const down = await hearth(['account', 'takedown', handle])
    assert.deepEqual([down.code, down.out], [0, `${did} taken down\n`])
    assert.equal(await canLogin(handle, password), false)
    const status = await pds.agent().api.com.atproto.sync.getRepoStatus({ did })
    assert.equal(status.data.status, 'takendown')
    assert.match((await hearth(['account', 'list'])).out, new RegExp(`${did}\\s+takendown`))
    // A taken-down account's handle no longer resolves publicly; the command still finds it.
    const byHandle = await hearth(['account', 'untakedown', handle])
    assert.deepEqual([byHandle.code, byHandle.out, byHandle.err], [0, `${did} untaken down\n`, ''])
    assert.ok(await canLogin(handle, password))
    assert.equal((await hearth(['account', 'takedown', did])).code, 0)
    const up = await hearth(['account', 'untakedown', did])
    assert.deepEqual([up.code, up.out], [0, `${did} untaken down\n`])
    assert.ok(await canLogin(handle, password))
    const unknown = await hearth(['account', 'untakedown', 'nobody-here.test'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.err, /no account on this PDS has the handle nobody-here\.test/)
  })

  test('reset-password prints a new password once; the old one stops working', async () => {
    const res = await hearth(['account', 'reset-password', did])
    assert.equal(res.code, 0, res.err)
    const fresh = /New password: (\S+)/.exec(res.out)?.[1] as string
    assert.match(fresh, /^[A-Za-z0-9]{24}$/)
    assert.equal(await canLogin(handle, password), false)
    assert.ok(await canLogin(handle, fresh))
    password = fresh
  })

  test('email-codes prints the code a password reset would have mailed (email is not configured here), and it works', async () => {
    const none = await hearth(['email-codes', handle])
    assert.equal(none.code, 0, none.err)
    assert.match(none.out, /No pending codes/)
    await pds.agent().com.atproto.server.requestPasswordReset({ email: 'carol@example.com' })
    const res = await hearth(['email-codes', 'carol@example.com'])
    assert.equal(res.code, 0, res.err)
    const code = /reset_password\s+(\S+)/.exec(res.out)?.[1]
    assert.ok(code, res.out)
    assert.match(res.out, new RegExp(did))
    await pds.agent().com.atproto.server.resetPassword({ token: code, password: 'reset-by-the-operator-1' })
    assert.ok(await canLogin(handle, 'reset-by-the-operator-1'))
    password = 'reset-by-the-operator-1'
    const unknown = await hearth(['email-codes', 'nobody@example.com'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.err, /no account on this PDS has the handle, DID or email nobody@example\.com/)
  })

  test('invite create mints a code with the uses asked for', async () => {
    const res = await hearth(['invite', 'create', '--uses', '3'])
    assert.equal(res.code, 0, res.err)
    const code = res.out.trim()
    const admin = pds.agent()
    admin.setHeader('authorization', `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`)
    const codes = await admin.com.atproto.admin.getInviteCodes({ limit: 500 })
    assert.equal(codes.data.codes.find((c) => c.code === code)?.available, 3)
    const bad = await hearth(['invite', 'create', '--uses', 'many'])
    assert.equal(bad.code, 2)
  })

  test('delete needs a confirmation (none possible here: --yes), then removes the account', async () => {
    const refused = await hearth(['account', 'delete', did])
    assert.equal(refused.code, 1)
    assert.match(refused.err, /--yes/)
    assert.ok(await canLogin(handle, password), 'nothing was deleted')
    const res = await hearth(['account', 'delete', did, '--yes'])
    assert.deepEqual([res.code, res.out], [0, `${did} deleted\n`])
    assert.equal(await canLogin(handle, password), false)
    assert.equal(pds.hearth.services.accounts.getAccount(did, { includeTakenDown: true, includeDeactivated: true }), null)
  })

  test('errors: wrong admin password, unreachable server, bad usage, unknown command', async () => {
    const wrong = await hearth(['invite', 'create'], { PDS_ADMIN_PASSWORD: 'wrong-password-123' })
    assert.equal(wrong.code, 1)
    // Says where the password it sent came from, so the operator knows which one to fix.
    assert.match(wrong.err, /refused the admin password read from PDS_ADMIN_PASSWORD in the environment/)
    assert.ok(!wrong.err.includes('wrong-password-123'), 'the password is never printed')
    const down = await hearth(['account', 'takedown', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', '--url', 'http://127.0.0.1:1'])
    assert.equal(down.code, 1)
    assert.match(down.err, /cannot reach the PDS at http:\/\/127\.0\.0\.1:1/)
    const usage = await hearth(['account', 'create', 'only-an-email@example.com'])
    assert.equal(usage.code, 2)
    assert.match(usage.err, /Usage: hearth account/)
    const unknown = await hearth(['frobnicate'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.err, /unknown command 'frobnicate'/)
    const badOption = await hearth(['account', 'list', '--nope'])
    assert.equal(badOption.code, 2)
  })
})

describe('request-crawl', () => {
  test('posts this hostname to each relay given, as pdsadmin', async () => {
    const bodies: string[] = []
    const relay: Server = createServer((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${body}`)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
      const res = await hearth(['request-crawl', `${url},${url}`])
      assert.equal(res.code, 0, res.err)
      assert.equal(res.out, `Requesting crawl from ${url}\nRequesting crawl from ${url}\ndone\n`)
      assert.deepEqual(bodies, Array(2).fill('POST /xrpc/com.atproto.sync.requestCrawl {"hostname":"localhost"}'))
      const none = await hearth(['request-crawl'])
      assert.equal(none.code, 2)
    } finally {
      relay.close()
    }
  })
})

describe('backup and restore', () => {
  test('a backup taken while writes go on restores into a server with every record and a working login', async () => {
    const alice = await pds.createAccount('backup')
    const blob = await alice.agent.com.atproto.repo.uploadBlob(new TextEncoder().encode('kept in the backup'), { encoding: 'text/plain' })
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: COL, record: { $type: COL, file: blob.data.blob } })
    for (let i = 0; i < 10; i++) await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: COL, record: { $type: COL, n: i } })
    const before = 11

    // Writes keep landing while another process takes the backup.
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: COL, record: { $type: COL, w: written } })
        written++
      }
    })()
    const dest = path.join(work, 'backup')
    const res = await spawnHearth(['backup', dest], env)
    writing = false
    await writer
    assert.equal(res.code, 0, res.err)
    assert.match(res.out, /Backup of .* written to /)
    // Progress goes to stderr, ending with the totals.
    assert.match(res.err, /backup: \d+ items, \d+\.\d MB in \d+:\d\d\n/)
    assert.ok(written > 0, 'writes happened during the backup')
    assert.ok(existsSync(path.join(dest, 'hearth-backup.json')))

    // Restore: into an empty (here: new) directory, which no server can be using, even while a
    // server answers on the configured port; over data, refused while a server runs there, and
    // refused without --force.
    const target = path.join(work, 'restored')
    const intoEmpty = await hearth(['restore', dest], baseEnv(target, pds.hearth.port))
    assert.equal(intoEmpty.code, 0, intoEmpty.err)
    assert.match(intoEmpty.err, /restore: \d+ items, \d+\.\d MB in \d+:\d\d\n/)
    assert.ok(existsSync(path.join(target, 'account.sqlite')))
    writeFileSync(path.join(target, 'stray.txt'), 'something')
    const running = await hearth(['restore', dest, '--force'], baseEnv(target, pds.hearth.port))
    assert.equal(running.code, 1)
    assert.match(running.err, /a server is running/)
    const freePort = await unusedPort()
    const notEmpty = await hearth(['restore', dest], baseEnv(target, freePort))
    assert.equal(notEmpty.code, 1)
    assert.match(notEmpty.err, /not empty; pass --force/)
    const restored = await hearth(['restore', dest, '--force'], baseEnv(target, freePort))
    assert.equal(restored.code, 0, restored.err)
    const aside = readdirSync(target).find((n) => n.startsWith('.pre-restore-'))
    assert.ok(aside && existsSync(path.join(target, aside, 'stray.txt')), 'the old contents were kept aside')

    // A server on the restored directory.
    const second = await startTestPds({ dataDir: target })
    try {
      const agent = new AtpAgent({ service: second.url })
      await agent.login({ identifier: alice.handle, password: alice.password })
      // Paged: the writer may have landed more than one page of records during the backup.
      let count = 0
      let cursor: string | undefined
      do {
        const page = await agent.com.atproto.repo.listRecords({ repo: alice.did, collection: COL, limit: 100, cursor })
        count += page.data.records.length
        cursor = page.data.cursor
      } while (cursor)
      assert.ok(count >= before && count <= before + written, `restored ${count} records`)
      // The index, the MST and the signature agree.
      const store = second.hearth.services.actors.get(alice.did)!
      const car = await agent.com.atproto.sync.getRepo({ did: alice.did })
      const verified = await verifyRepoCar(new Uint8Array(car.data), alice.did, store.keypair().did())
      assert.equal(verified.creates.length, count)
      // The event log ends at the restored head: nothing announced that the repo lacks.
      const last = second.hearth.services.sequencer.lastOfType(alice.did, 'append')
      assert.equal((decodeCbor(last!.event) as { rev: string }).rev, store.head()!.rev)
      const file = await fetch(`${second.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${blob.data.blob.ref.toString()}`)
      assert.equal(await file.text(), 'kept in the backup')
    } finally {
      await second.close()
    }
  })

  test('backup refuses a non-empty destination; restore refuses a directory that is not a backup', async () => {
    const full = path.join(work, 'full')
    mkdirSync(full)
    writeFileSync(path.join(full, 'x'), 'x')
    const res = await hearth(['backup', full])
    assert.equal(res.code, 1)
    assert.match(res.err, /is not empty/)
    const notBackup = await hearth(['restore', full], baseEnv(path.join(work, 'nowhere'), await unusedPort()))
    assert.equal(notBackup.code, 1)
    assert.match(notBackup.err, /not a complete Hearth backup/)
    assert.equal((await hearth(['backup'])).code, 2)
    // A damaged database in a backup is found before anything is touched.
    const damaged = path.join(work, 'damaged')
    cpSync(path.join(work, 'backup'), damaged, { recursive: true })
    const file = path.join(damaged, 'sequencer.sqlite')
    const bytes = readFileSync(file)
    const pageSize = bytes.readUInt16BE(16) || 65536
    bytes.fill(0xa5, pageSize, Math.min(bytes.length, pageSize * 3))
    writeFileSync(file, bytes)
    const target = path.join(work, 'untouched')
    const bad = await hearth(['restore', damaged], baseEnv(target, await unusedPort()))
    assert.equal(bad.code, 1)
    assert.match(bad.err, /sequencer\.sqlite in the backup is damaged/)
    assert.equal(existsSync(target), false)
  })
})

async function unusedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
