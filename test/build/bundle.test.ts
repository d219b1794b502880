// `npm start` runs the bundle scripts/build.mjs makes, under plain node: build it and check that
// it serves, so that a module which only works through tsx cannot slip into the start path.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CookieJar } from '../helpers/cookie-jar.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'hearth-bundle-'))
const backups = mkdtempSync(join(tmpdir(), 'hearth-bundle-backups-'))
after(() => {
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(backups, { recursive: true, force: true })
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

test('the bundle npm start runs builds, reports its version and serves XRPC', async () => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root })
  assert.ok(existsSync(join(root, 'dist/hearth.mjs')))
  assert.ok(existsSync(join(root, 'dist/lexicons.json')))
  // V8 keeps a module's source, as UTF-16 (twice the memory) once one character is past Latin-1.
  for (const file of ['hearth.mjs', 'backup-worker.mjs']) {
    const at = readFileSync(join(root, 'dist', file), 'utf8').search(/[^\x00-\x7f]/)
    assert.equal(at, -1, `dist/${file} has a non-ASCII character at ${at}`)
  }

  const pkgVersion = (await import(join(root, 'package.json'), { with: { type: 'json' } })).default.version as string
  const printed = execFileSync(process.execPath, [join(root, 'dist/hearth.mjs'), '--version'], { cwd: root }).toString()
  assert.equal(printed.trim(), `hearth ${pkgVersion}`)

  const port = await freePort()
  const child = spawn(process.execPath, [join(root, 'dist/hearth.mjs'), 'serve'], {
    cwd: root,
    env: { ...process.env, PDS_PORT: String(port), PDS_DATA_DIRECTORY: dataDir, LOG_ENABLED: 'false', PDS_ADMIN_PASSWORD: 'bundle-admin', HEARTH_BACKUP_DESTINATION: backups },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    let health: Response | null = null
    for (let i = 0; i < 100 && health === null; i++) {
      health = await fetch(`http://127.0.0.1:${port}/xrpc/_health`).catch(() => null)
      if (health === null) await new Promise((r) => setTimeout(r, 100))
    }
    assert.ok(health, `the bundle did not serve: ${output}`)
    assert.equal(health.status, 200)
    assert.equal(((await health.json()) as { version: string }).version, pkgVersion)
    // A lexicon-validated call: the schemas came from dist/lexicons.json.
    const bad = await fetch(`http://127.0.0.1:${port}/xrpc/com.atproto.repo.describeRepo`)
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: string }).error, 'InvalidRequest')
    const described = await fetch(`http://127.0.0.1:${port}/xrpc/com.atproto.server.describeServer`)
    assert.equal(described.status, 200)
    // A method this server does not serve, read from its own document (parsed when first asked for).
    const wrongVerb = await fetch(`http://127.0.0.1:${port}/xrpc/app.bsky.feed.sendInteractions`)
    assert.equal(wrongVerb.status, 400)
    assert.deepEqual(await wrongVerb.json(), { error: 'InvalidRequest', message: 'Incorrect HTTP method (GET) expected POST' })
    // The dashboard's backup thread is a file of its own in the bundle (dist/backup-worker.mjs).
    assert.match(await backupFromDashboard(`http://127.0.0.1:${port}`), /The last backup succeeded/)
    assert.equal(readdirSync(backups).length, 1)
  } finally {
    child.kill('SIGTERM')
    assert.equal(await exited, 0, output)
  }
})

/** Signs in to /admin, starts a backup and waits for the progress page's outcome line. */
async function backupFromDashboard(base: string): Promise<string> {
  const jar = new CookieJar()
  const get = async (path: string) => {
    const r = await fetch(base + path, { headers: { cookie: jar.header() }, redirect: 'manual' })
    jar.store(r)
    return r.text()
  }
  const post = async (fields: Record<string, string>) => {
    const r = await fetch(`${base}/admin`, {
      method: 'POST',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: jar.csrf(), ...fields }).toString(),
      redirect: 'manual',
    })
    jar.store(r)
    return r.status
  }
  await get('/admin')
  assert.equal(await post({ action: 'sign-in', password: 'bundle-admin' }), 303)
  assert.equal(await post({ action: 'start-backup' }), 303)
  for (let i = 0; i < 300; i++) {
    const page = await get('/admin/backup')
    if (!page.includes('http-equiv="refresh"')) return page.match(/<p class="(notice|error)"[^>]*>[\s\S]*?<\/p>/)?.[0] ?? page
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('the backup did not finish')
}
