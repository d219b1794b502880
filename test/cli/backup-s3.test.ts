// `hearth backup s3://…` and `hearth restore s3://…` against a real S3-compatible server
// (s3rver, its own process): a Hearth with accounts, posts and an image on disk is backed up to
// the bucket, restored onto an empty data directory, and a server started there serves every
// record and the image byte for byte. Then the scheduled mode, through the real launcher, keeps
// the newest two of three snapshots.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { AtpAgent } from '@atproto/api'
import { parseS3Url, s3BackupTarget } from '../../src/admin/s3-backup.ts'
import { parseInterval } from '../../src/cli/data-commands.ts'
import { run } from '../../src/cli/main.ts'
import { png } from '../blob/samples.ts'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'
import { readBackupStatus } from '../../src/admin/backup-status.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BUCKET = 'hearth-backups'
const POST = 'app.bsky.feed.post'
const BLOB_BUCKET = 'hearth-blobs'

let s3: TestS3
let raw: S3Client
let pds: TestPds
let work: string

before(async () => {
  s3 = await startS3({ bucket: BUCKET, buckets: [BLOB_BUCKET] })
  raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  })
  pds = await startTestPds()
  work = mkdtempSync(path.join(tmpdir(), 'hearth-backup-s3-'))
})

after(async () => {
  await pds?.close()
  raw?.destroy()
  await s3?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

/** The bucket settings as an operator gives them for backups (not the blob store's). */
function backupEnv(dataDir: string): Record<string, string> {
  return {
    PDS_HOSTNAME: 'localhost',
    PDS_DATA_DIRECTORY: dataDir,
    HEARTH_BACKUP_S3_ENDPOINT: s3.url,
    HEARTH_BACKUP_S3_REGION: 'us-east-1',
    HEARTH_BACKUP_S3_FORCE_PATH_STYLE: 'true',
    HEARTH_BACKUP_S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
    HEARTH_BACKUP_S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
  }
}

async function hearth(args: string[], env: Record<string, string>) {
  let out = ''
  let err = ''
  const code = await run(args, { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, env, cwd: work })
  return { code, out, err }
}

async function snapshots(prefix: string): Promise<string[]> {
  const res = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, Delimiter: '/' }))
  return (res.CommonPrefixes ?? []).map((p) => p.Prefix!.slice(prefix.length + 1, -1)).sort()
}

async function allRecords(agent: AtpAgent, did: string) {
  const out = []
  for (const collection of (await agent.com.atproto.repo.describeRepo({ repo: did })).data.collections) {
    let cursor: string | undefined
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
      out.push(...page.data.records)
      cursor = page.data.cursor
    } while (cursor)
  }
  return out
}

test('a backup to the bucket restores onto an empty directory with every account, record and blob', async () => {
  const alice = await pds.createAccount('alice')
  const bob = await pds.createAccount('bob')
  const image = Buffer.concat([png, Buffer.from('backed up to the bucket')])
  const uploaded = await alice.agent.com.atproto.repo.uploadBlob(image, { encoding: 'image/png' })
  await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: POST,
    record: {
      $type: POST,
      text: 'with a picture',
      createdAt: new Date().toISOString(),
      embed: { $type: 'app.bsky.embed.images', images: [{ image: uploaded.data.blob, alt: 'a pixel' }] },
    },
  })
  for (const [i, who] of [alice, bob, bob, alice, bob].entries()) {
    await who.agent.com.atproto.repo.createRecord({ repo: who.did, collection: POST, record: { $type: POST, text: `post ${i}`, createdAt: new Date().toISOString() } })
  }
  const expected = new Map<string, unknown>()
  for (const who of [alice, bob]) expected.set(who.did, await allRecords(pds.agent(), who.did))

  const backup = await hearth(['backup', `s3://${BUCKET}/pds`], backupEnv(pds.dataDir))
  assert.equal(backup.code, 0, backup.err)
  assert.match(backup.out, new RegExp(`written to s3://${BUCKET}/pds/\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z\\n`))
  assert.match(backup.out, /2 account\(s\)/)
  // Progress on stderr for both steps: the local snapshot and its upload.
  assert.match(backup.err, /backup: \d+ items, \d+\.\d MB in \d+:\d\d\n/)
  assert.match(backup.err, /upload: \d+ items, \d+\.\d MB in \d+:\d\d\n/)
  const [snapshot] = await snapshots('pds')
  assert.ok(snapshot)

  // A new machine: nothing but an empty data directory and the bucket.
  const target = path.join(work, 'restored')
  const restore = await hearth(['restore', `s3://${BUCKET}/pds`], backupEnv(target))
  assert.equal(restore.code, 0, restore.err)
  assert.match(restore.out, new RegExp(`Restored s3://${BUCKET}/pds/${snapshot} \\(2 account\\(s\\)`))
  assert.match(restore.err, /download: \d+ items, \d+\.\d MB in \d+:\d\d\n/)
  assert.match(restore.err, /restore: \d+ items, \d+\.\d MB in \d+:\d\d\n/)
  assert.ok(existsSync(path.join(target, 'blocks', alice.did, uploaded.data.blob.ref.toString())), 'the disk blob came back')

  const second = await startTestPds({ dataDir: target })
  try {
    const agent = new AtpAgent({ service: second.url })
    await agent.login({ identifier: bob.handle, password: bob.password })
    for (const who of [alice, bob]) {
      const records = await allRecords(agent, who.did)
      assert.deepEqual(records, expected.get(who.did), `${who.handle}'s records`)
      assert.ok(records.length >= 3)
    }
    const blob = await fetch(`${second.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${uploaded.data.blob.ref.toString()}`)
    assert.equal(blob.status, 200)
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(image), 'the image byte for byte')
  } finally {
    await second.close()
  }

  // A named snapshot, and a prefix with none, say what they are.
  const none = await hearth(['restore', `s3://${BUCKET}/nothing-here`], backupEnv(path.join(work, 'none')))
  assert.equal(none.code, 1)
  assert.match(none.err, /no complete Hearth backup under s3:\/\/hearth-backups\/nothing-here/)
  const named = await hearth(['restore', `s3://${BUCKET}/pds/${snapshot}`], backupEnv(path.join(work, 'named')))
  assert.equal(named.code, 0, named.err)
  const wrong = await hearth(['backup', `s3://no-such-bucket/pds`], backupEnv(pds.dataDir))
  assert.equal(wrong.code, 1)
  assert.match(wrong.err, /bucket "no-such-bucket" does not exist/)
})

test('scheduled backups (through the launcher) keep the newest two of three snapshots', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/hearth.js'), 'backup', '--every', '1s', '--keep', '2', `s3://${BUCKET}/every`], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '', ...backupEnv(pds.dataDir) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const written: string[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`three backups not written in time:\n${out}\n${err}`)), 20_000)
    child.stdout.on('data', (d) => {
      out += d
      written.splice(0, written.length, ...[...out.matchAll(/written to s3:\/\/hearth-backups\/every\/(\S+)\n/g)].map((m) => m[1]))
      if (written.length >= 3) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  // The dashboard's view of it: the last run and the next time, in the data directory.
  const noted = readBackupStatus(pds.dataDir)
  assert.equal(noted.lastRun?.ok, true)
  assert.equal(noted.lastRun?.by, 'schedule')
  assert.match(noted.lastRun?.dest ?? '', /^s3:\/\/hearth-backups\/every\/\d{4}-/)
  assert.ok((noted.lastRun?.bytes ?? 0) > 0)
  assert.deepEqual([noted.schedule?.everyMs, noted.schedule?.dest, noted.schedule?.pid], [1000, `s3://${BUCKET}/every`, child.pid])
  assert.ok(Math.abs(Date.parse(noted.schedule!.nextAt) - Date.now()) < 5000)
  child.kill('SIGTERM')
  assert.equal(await exited, 0, err)
  assert.match(out, /deleted 1 older snapshot\(s\), keeping 2/)
  assert.deepEqual(await snapshots('every'), written.slice(-2))
  // Stopped: no next time any more.
  assert.equal(readBackupStatus(pds.dataDir).schedule, undefined)
})

test('the bucket settings: HEARTH_BACKUP_S3_* first, each falling back to PDS_BLOBSTORE_S3_*, the keys only as a pair', () => {
  const loc = parseS3Url('s3://my-backups/hosts/pds1/')!
  assert.deepEqual(loc, { bucket: 'my-backups', prefix: 'hosts/pds1' })
  assert.equal(parseS3Url('/var/backups'), null)
  assert.throws(() => parseS3Url('s3://Bad_Bucket/x'), /not a valid bucket name/)
  assert.throws(() => parseS3Url('s3://bucket/../x'), /\.\. segments/)
  const blobs = {
    PDS_BLOBSTORE_S3_ENDPOINT: 'https://blobs.example',
    PDS_BLOBSTORE_S3_REGION: 'eu-west-1',
    PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: 'true',
    PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'blob-id',
    PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 'blob-secret',
  }
  assert.deepEqual(s3BackupTarget(loc, blobs), {
    ...loc,
    endpoint: 'https://blobs.example',
    region: 'eu-west-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'blob-id', secretAccessKey: 'blob-secret' },
  })
  const own = s3BackupTarget(loc, { ...blobs, HEARTH_BACKUP_S3_ENDPOINT: 'https://other.example', HEARTH_BACKUP_S3_ACCESS_KEY_ID: 'b-id', HEARTH_BACKUP_S3_SECRET_ACCESS_KEY: 'b-secret' })
  assert.equal(own.endpoint, 'https://other.example')
  assert.equal(own.region, 'eu-west-1')
  assert.deepEqual(own.credentials, { accessKeyId: 'b-id', secretAccessKey: 'b-secret' })
  // One backup key with the blob store's other key would be a pair nobody meant.
  assert.throws(() => s3BackupTarget(loc, { ...blobs, HEARTH_BACKUP_S3_ACCESS_KEY_ID: 'b-id' }), /HEARTH_BACKUP_S3_ACCESS_KEY_ID and HEARTH_BACKUP_S3_SECRET_ACCESS_KEY/)
  assert.equal(s3BackupTarget(loc, {}).credentials, undefined)
  assert.equal(parseInterval('6h'), 6 * 3_600_000)
  assert.equal(parseInterval('30m'), 1_800_000)
  assert.equal(parseInterval('0s'), null)
  assert.equal(parseInterval('6 hours'), null)
})

test('--every and --keep need a bucket; a bad interval or count is a usage error', async () => {
  for (const args of [['--keep', '2', path.join(work, 'dir-backup')], ['--every', '1h', path.join(work, 'dir-backup')], ['--every', 'soon', 's3://x-bucket/p'], ['--keep', '0', 's3://x-bucket/p']]) {
    const res = await hearth(['backup', ...args], backupEnv(pds.dataDir))
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.err}`)
  }
})

test('with blobs in a bucket, the backup holds the databases only (found through the PDS_BLOBSTORE_S3_* settings) and the restored server serves the bucket\'s blobs', async () => {
  const blobEnv = s3.env({ bucket: BLOB_BUCKET })
  const host = await startTestPds({ env: blobEnv })
  const target = path.join(work, 'restored-s3-blobs')
  let expected: unknown
  try {
    const carol = await host.createAccount('carol')
    const image = Buffer.concat([png, Buffer.from('kept in the blob bucket')])
    const up = await carol.agent.com.atproto.repo.uploadBlob(image, { encoding: 'image/png' })
    await carol.agent.com.atproto.repo.createRecord({
      repo: carol.did,
      collection: POST,
      record: { $type: POST, text: 'hi', createdAt: new Date().toISOString(), embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: '' }] } },
    })
    expected = await allRecords(host.agent(), carol.did)
    // No HEARTH_BACKUP_S3_*: the blob store's endpoint and keys reach the backup bucket too.
    const env = { PDS_HOSTNAME: 'localhost', PDS_DATA_DIRECTORY: host.dataDir, ...blobEnv }
    const backup = await hearth(['backup', `s3://${BUCKET}/with-s3-blobs`], env)
    assert.equal(backup.code, 0, backup.err)
    const res = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'with-s3-blobs/' }))
    const keys = (res.Contents ?? []).map((o) => o.Key!)
    assert.ok(keys.some((k) => k.endsWith('/account.sqlite')), keys.join('\n'))
    assert.ok(!keys.some((k) => k.includes(up.data.blob.ref.toString())), 'no blob copied into the backup')

    const restore = await hearth(['restore', `s3://${BUCKET}/with-s3-blobs`], { ...env, PDS_DATA_DIRECTORY: target })
    assert.equal(restore.code, 0, restore.err)
  } finally {
    await host.close()
  }
  const second = await startTestPds({ dataDir: target, env: blobEnv })
  try {
    const [did] = (await second.agent().com.atproto.sync.listRepos({})).data.repos.map((r) => r.did)
    const records = await allRecords(second.agent(), did)
    assert.deepEqual(records, expected)
    const post = records.find((r) => (r.value as { text?: string }).text === 'hi')!
    const cid = (post.value as { embed: { images: Array<{ image: { ref: { toString(): string } } }> } }).embed.images[0].image.ref.toString()
    const blob = await fetch(`${second.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)
    assert.equal(blob.status, 200)
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(Buffer.concat([png, Buffer.from('kept in the blob bucket')])))
  } finally {
    await second.close()
  }
})

test('a scheduled run that fails is reported and the next one still comes', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/hearth.js'), 'backup', '--every', '1s', 's3://no-such-bucket/every'], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '', ...backupEnv(pds.dataDir) },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no second attempt:\n${err}`)), 15_000)
    child.stderr.on('data', (d) => {
      err += d
      if ((err.match(/hearth: backup failed: the bucket "no-such-bucket" does not exist/g) ?? []).length >= 2) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  const failed = readBackupStatus(pds.dataDir).lastRun
  assert.deepEqual([failed?.ok, failed?.by, failed?.dest], [false, 'schedule', 's3://no-such-bucket/every'])
  assert.match(failed?.error ?? '', /bucket "no-such-bucket" does not exist/)
  child.kill('SIGTERM')
  assert.equal(await exited, 0, err)
})
