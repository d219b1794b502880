// `hearth blobs to-s3` / `to-disk` against a real S3-compatible server (s3rver, its own
// process): every permanent and quarantined blob is copied in the official layouts, checked
// against its CID (a corrupt file is reported, not copied), a second run copies nothing again,
// and the way back gives the same bytes.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { DiskBlobStore } from '../../src/blob/disk-store.ts'
import { run } from '../../src/cli/main.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type TestS3 } from '../helpers/s3.ts'

const ALICE = 'did:plc:blobcopyaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:blobcopybbbbbbbbbbbbbbbb'

let s3: TestS3
let raw: S3Client
let dataDir: string
let backDir: string

before(async () => {
  s3 = await startS3()
  raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  })
  dataDir = mkdtempSync(join(tmpdir(), 'hearth-blobs-cli-'))
  backDir = mkdtempSync(join(tmpdir(), 'hearth-blobs-cli-back-'))
})

after(async () => {
  raw?.destroy()
  await s3?.close()
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(backDir, { recursive: true, force: true })
})

async function keys(prefix: string): Promise<string[]> {
  const res = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))
  return (res.Contents ?? []).map((o) => o.Key as string).sort()
}

async function hearth(args: string[], env: Record<string, string>) {
  let out = ''
  let err = ''
  const code = await run(args, { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, env, cwd: dataDir })
  return { code, out, err }
}

test('to-s3 copies every blob verified by CID, resumes, and to-disk brings the same bytes back', async () => {
  const disk = new DiskBlobStore({ location: join(dataDir, 'blocks') })
  const blobs = new Map<string, { did: string; bytes: Buffer }>()
  for (const [did, n] of [
    [ALICE, 3],
    [BOB, 2],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const bytes = randomBytes(1000 + i * 70_000)
      const cid = cidForRaw(bytes)
      await disk.putPermanent(did, cid, bytes)
      blobs.set(cid.$link, { did, bytes })
    }
  }
  const [takenDown] = [...blobs.entries()].filter(([, b]) => b.did === BOB)
  await disk.quarantine(BOB, takenDown[0])
  // A file whose bytes do not match its name (disk damage): reported, never copied.
  const damaged = cidForRaw(randomBytes(10)).$link
  writeFileSync(join(dataDir, 'blocks', ALICE, damaged), 'not these bytes')

  const env = { PDS_DATA_DIRECTORY: dataDir, ...s3.env() }
  const first = await hearth(['blobs', 'to-s3'], env)
  assert.equal(first.code, 1, first.out + first.err)
  assert.match(first.out, /Copied 5 blob\(s\), 0 already there, 1 failed/)
  assert.match(first.err, new RegExp(`failed: ${ALICE}/${damaged}: bytes do not hash`))
  assert.match(first.err, /blobs: 6\/6 objects, [\d.]+\/[\d.]+ MB, [\d.]+ MB\/s, ETA 0:00/)
  const stored = [...blobs.entries()].filter(([cid]) => cid !== takenDown[0])
  assert.deepEqual(
    [...(await keys(`blocks/${ALICE}/`)), ...(await keys(`blocks/${BOB}/`))].sort(),
    stored.map(([cid, b]) => `blocks/${b.did}/${cid}`).sort(),
  )
  assert.deepEqual(await keys(`quarantine/${BOB}/`), [`quarantine/${BOB}/${takenDown[0]}`])

  // Resumable: the second run finds everything there.
  rmSync(join(dataDir, 'blocks', ALICE, damaged))
  const second = await hearth(['blobs', 'to-s3'], env)
  assert.equal(second.code, 0, second.out + second.err)
  assert.match(second.out, /Copied 0 blob\(s\), 5 already there, 0 failed/)

  // And back, onto an empty disk.
  const back = await hearth(['blobs', 'to-disk'], { PDS_DATA_DIRECTORY: backDir, ...s3.env() })
  assert.equal(back.code, 0, back.out + back.err)
  assert.match(back.out, /Copied 5 blob\(s\)/)
  for (const [cid, b] of blobs) {
    const file = cid === takenDown[0] ? join(backDir, 'blocks', 'quarantine', b.did, cid) : join(backDir, 'blocks', b.did, cid)
    assert.ok(readFileSync(file).equals(b.bytes), cid)
  }
})

test('to-s3 without a bucket, or with a wrong one, says so', async () => {
  const none = await hearth(['blobs', 'to-s3'], { PDS_DATA_DIRECTORY: dataDir })
  assert.equal(none.code, 1)
  assert.match(none.err, /PDS_BLOBSTORE_S3_BUCKET is not set/)
  const missing = await hearth(['blobs', 'to-s3'], { PDS_DATA_DIRECTORY: dataDir, ...s3.env({ bucket: 'nope' }) })
  assert.equal(missing.code, 1)
  assert.match(missing.err, /the bucket "nope" does not exist/)
  const usage = await hearth(['blobs', 'sideways'], { PDS_DATA_DIRECTORY: dataDir })
  assert.equal(usage.code, 2)
})
