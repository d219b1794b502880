// The dashboard's backups panel over HTTP against a real Hearth: with no destination it says
// how to set one and refuses to start; with HEARTH_BACKUP_DESTINATION (a directory, or an
// s3:// prefix on s3rver) "start a backup" runs in a worker (the server answers meanwhile),
// refuses a second one while it runs (or while `hearth backup` runs on this machine), shows progress on a page that reloads itself, and leaves
// a complete backup (manifest, every account's database) whose outcome the panel shows; a
// failed run shows its error; the next time `hearth backup --every` reported is shown, and
// flagged when overdue. CSRF and the admin session are checked as for every action.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'
import { openDb } from '../../src/storage/sqlite.ts'
import { readBackupStatus, updateBackupStatus } from '../../src/admin/backup-status.ts'

const work = mkdtempSync(join(tmpdir(), 'hearth-admin-backups-'))
after(() => rmSync(work, { recursive: true, force: true }))

function client(pds: TestPds) {
  const jar = new CookieJar()
  const get = async (path = '/admin') => {
    const res = await fetch(pds.url + path, { headers: { cookie: jar.header() }, redirect: 'manual' })
    jar.store(res)
    return { res, body: await res.text() }
  }
  const post = async (fields: Record<string, string>, csrf: string | null = jar.csrf()) => {
    const res = await fetch(pds.url + '/admin', {
      method: 'POST',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...(csrf === null ? {} : { csrf }), ...fields }).toString(),
      redirect: 'manual',
    })
    jar.store(res)
    return { res, body: await res.text() }
  }
  return { jar, get, post }
}

async function operator(pds: TestPds) {
  const c = client(pds)
  await c.get()
  assert.equal((await c.post({ action: 'sign-in', password: pds.adminPassword })).res.status, 303)
  return c
}

/** Polls the progress page until it stops reloading itself; its last body. */
async function finished(c: ReturnType<typeof client>): Promise<string> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const { res, body } = await c.get('/admin/backup')
    assert.equal(res.status, 200)
    if (!body.includes('http-equiv="refresh"')) return body
    assert.match(body, /Backup running/)
    if (Date.now() > deadline) throw new Error('the backup did not finish in 30 s')
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The page's visible text: the body, tags as spaces, entities decoded. */
const text = (body: string) =>
  body
    .replace(/^[\s\S]*<body>/, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .replace(/ ([,.):])/g, '$1')
    .replace(/\( /g, '(')

describe('backups panel without a destination', () => {
  let pds: TestPds
  before(async () => {
    pds = await startTestPds()
  })
  after(() => pds.close())

  it('says how to set one, and refuses to start', async () => {
    const c = await operator(pds)
    const { body } = await c.get()
    assert.match(text(body), /Last backup none recorded in this data directory/)
    assert.match(text(body), /Next backup none scheduled/)
    assert.match(body, /set <code>HEARTH_BACKUP_DESTINATION<\/code>/)
    assert.doesNotMatch(body, /value="start-backup"/)
    const refused = await c.post({ action: 'start-backup' })
    assert.equal(refused.res.status, 409)
    assert.match(refused.body, /No backup destination is set: set HEARTH_BACKUP_DESTINATION/)
  })
})

describe('backups panel with a directory destination', () => {
  let pds: TestPds
  const dest = join(work, 'backups')
  before(async () => {
    pds = await startTestPds({ env: { HEARTH_BACKUP_DESTINATION: dest } })
  })
  after(() => pds.close())

  it('refuses a start without the admin session or CSRF token', async () => {
    const anon = client(pds)
    await anon.get()
    const noSession = await anon.post({ action: 'start-backup' })
    assert.equal(noSession.res.status, 401)
    const c = await operator(pds)
    for (const csrf of [null, 'f'.repeat(32)]) {
      const { res, body } = await c.post({ action: 'start-backup' }, csrf)
      assert.equal(res.status, 403)
      assert.match(body, /The form expired or was not sent from this site/)
    }
    assert.throws(() => readdirSync(dest), /ENOENT/, 'no backup was started')
  })

  it('runs one backup in the background, refuses a second meanwhile, and shows the result', async () => {
    const alice = await pds.createAccount('bkalice')
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'kept', createdAt: new Date().toISOString() } })
    const c = await operator(pds)
    const [first, second] = await Promise.all([c.post({ action: 'start-backup' }), c.post({ action: 'start-backup' })])
    const [started, refused] = first.res.status === 303 ? [first, second] : [second, first]
    assert.equal(started.res.status, 303)
    assert.equal(started.res.headers.get('location'), '/admin/backup')
    assert.equal(refused.res.status, 409)
    assert.match(refused.body, /A backup is already running/)
    // The server keeps answering while the worker copies.
    assert.equal((await fetch(`${pds.url}/xrpc/_health`)).status, 200)
    const done = await finished(c)
    assert.match(text(done), /The last backup succeeded: [\d.]+ (B|KiB|MiB) written to /)

    // The backup itself: one dated folder, complete, holding the account and its repository.
    const folders = readdirSync(dest)
    assert.equal(folders.length, 1)
    assert.match(folders[0]!, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/)
    const backup = join(dest, folders[0]!)
    const manifest = JSON.parse(readFileSync(join(backup, 'hearth-backup.json'), 'utf8'))
    assert.equal(manifest.format, 'hearth-backup')
    assert.ok(!readdirSync(backup).some((f) => f.startsWith('hearth-backup-status')), 'the status file (with its running mark) is not copied')
    assert.ok(manifest.accounts >= 1)
    const accounts = openDb(join(backup, 'account.sqlite'), { readonly: true })
    try {
      assert.ok(accounts.prepare('SELECT 1 FROM "actor" WHERE "did" = ?').get(alice.did), 'the account is in the backup')
    } finally {
      accounts.close()
    }
    const live = pds.hearth.services.actors.location(alice.did).dbLocation
    const copied = join(backup, live.slice(pds.dataDir.length + 1))
    const store = openDb(copied, { readonly: true })
    try {
      assert.equal((store.prepare('SELECT count(*) AS n FROM "record" WHERE "collection" = ?').get('app.bsky.feed.post') as { n: number }).n, 1)
    } finally {
      store.close()
    }

    // The panel: last backup, where, size, by whom.
    const panel = text((await c.get()).body)
    assert.match(panel, /Last backup \d{4}-\d\d-\d\d \d\d:\d\d UTC succeeded by this dashboard/)
    assert.ok(panel.includes(`Where ${backup}`), panel)
    assert.match(panel, new RegExp(`Size [\\d.]+ (B|KiB|MiB), ${manifest.accounts} account`))
  })

  it('shows a failed run with its error', async () => {
    // The destination a file, not a directory: the copy cannot start.
    rmSync(dest, { recursive: true, force: true })
    writeFileSync(dest, 'not a directory')
    try {
      const c = await operator(pds)
      assert.equal((await c.post({ action: 'start-backup' })).res.status, 303)
      const done = await finished(c)
      assert.match(text(done), /The last backup failed at .*: .*(ENOTDIR|EEXIST|not a directory)/i)
      const panel = text((await c.get()).body)
      assert.match(panel, /Last backup .* failed by this dashboard/)
      assert.match(panel, /Error .*(ENOTDIR|EEXIST|not a directory)/i)
    } finally {
      rmSync(dest, { force: true })
    }
  })

  it('refuses to start while hearth backup runs on this machine, and says so on the panel', async () => {
    // A live process standing in for the command, its mark written as the command writes it.
    const command = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      updateBackupStatus(pds.dataDir, (s) => ({ ...s, running: { startedAt: new Date().toISOString(), dest: 's3://b/p', by: 'command', pid: command.pid! } }))
      const c = await operator(pds)
      assert.match(text((await c.get()).body), new RegExp(`Backup running in hearth backup \\(process ${command.pid}\\)`))
      const refused = await c.post({ action: 'start-backup' })
      assert.equal(refused.res.status, 409)
      assert.match(text(refused.body), new RegExp(`hearth backup is already running on this machine \\(process ${command.pid}`))
    } finally {
      command.kill()
      await once(command, 'exit')
    }
    // Its process gone (a crash leaves the mark behind), the mark no longer blocks.
    const c = await operator(pds)
    assert.doesNotMatch(text((await c.get()).body), /Backup running/)
    assert.equal((await c.post({ action: 'start-backup' })).res.status, 303)
    assert.match(text(await finished(c)), /The last backup succeeded/)
  })

  it('shows the next time the scheduler reported, and flags it when overdue', async () => {
    const c = await operator(pds)
    const schedule = (nextAt: Date) =>
      updateBackupStatus(pds.dataDir, (s) => ({ ...s, schedule: { everyMs: 6 * 3_600_000, nextAt: nextAt.toISOString(), dest: 's3://b/p', pid: 1, updatedAt: new Date().toISOString() } }))
    const soon = new Date(Date.now() + 3_600_000)
    schedule(soon)
    let panel = text((await c.get()).body)
    assert.ok(panel.includes(`Next backup ${soon.toISOString().slice(0, 16).replace('T', ' ')} UTC (every 6 hours, to s3://b/p)`), panel)
    assert.doesNotMatch(panel, /overdue/)
    schedule(new Date(Date.now() - 3 * 3_600_000))
    panel = text((await c.get()).body)
    assert.match(panel, /overdue The scheduler \(process 1\) has not reported since/)
  })
})

describe('backups panel with an s3:// destination', () => {
  let pds: TestPds
  let s3: TestS3
  before(async () => {
    s3 = await startS3({ buckets: ['hearth-dash-backups'] })
    // The bucket reached through the PDS_BLOBSTORE_S3_* settings, as `hearth backup` does.
    pds = await startTestPds({ env: { ...s3.env(), HEARTH_BACKUP_DESTINATION: 's3://hearth-dash-backups/pds', HEARTH_BACKUP_KEEP: '1' } })
  })
  after(async () => {
    await pds.close()
    await s3.close()
  })

  it('uploads a complete snapshot there', async () => {
    const bob = await pds.createAccount('bkbob')
    const c = await operator(pds)
    assert.equal((await c.post({ action: 'start-backup' })).res.status, 303)
    assert.match(text(await finished(c)), /The last backup succeeded: .* written to s3:\/\/hearth-dash-backups\/pds\/\d{4}-/)
    const keys = (await listKeys(s3, 'hearth-dash-backups')).filter((k) => k.startsWith('pds/'))
    const manifest = keys.find((k) => k.endsWith('/hearth-backup.json'))
    assert.ok(manifest, keys.join('\n'))
    assert.ok(keys.some((k) => k.endsWith('/account.sqlite')))
    assert.ok(keys.some((k) => k.includes(bob.did) && k.endsWith('/store.sqlite')), 'the account\'s repository was uploaded')
  })
})

/** Every object key in a bucket of the test's s3rver, through the S3 API. */
async function listKeys(s3: TestS3, bucket: string): Promise<string[]> {
  const client = new S3Client({ endpoint: s3.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY } })
  try {
    const keys: string[] = []
    let token: string | undefined
    do {
      const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }))
      keys.push(...(res.Contents ?? []).map((o) => o.Key!))
      token = res.NextContinuationToken
    } while (token)
    return keys
  } finally {
    client.destroy()
  }
}

describe('a dashboard backup at shutdown', () => {
  it('is stopped with the server and noted as failed, leaving no complete-looking copy', async () => {
    const dest = join(work, 'at-shutdown')
    const pds = await startTestPds({ env: { HEARTH_BACKUP_DESTINATION: dest } })
    try {
      const c = await operator(pds)
      assert.equal((await c.post({ action: 'start-backup' })).res.status, 303)
      await pds.hearth.close()
      const status = readBackupStatus(pds.dataDir)
      assert.equal(status.running, undefined)
      assert.equal(status.lastRun?.ok, false)
      assert.equal(status.lastRun?.by, 'dashboard')
      // Whatever the thread had copied has no manifest, so restore refuses it.
      for (const folder of existsSync(dest) ? readdirSync(dest) : []) assert.equal(existsSync(join(dest, folder, 'hearth-backup.json')), false)
    } finally {
      await pds.close()
    }
  })
})
