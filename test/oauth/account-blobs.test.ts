// "Download my images and videos" on /account: GET /account/blobs.tar over HTTP, on the disk
// store and on an S3 bucket (s3rver). The archive is opened with the system's tar and each file
// compared with what com.atproto.sync.getBlob serves; the set is listBlobs' minus a taken-down
// blob (named in missing.txt), an upload no record uses is not in it, a deactivated account
// still gets its blobs, and a stranger or another site gets a 403.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { startTestPds, type TestPds } from '../helpers/pds.ts'
import { startS3, type TestS3 } from '../helpers/s3.ts'
import { CookieJar } from '../helpers/cookie-jar.ts'

const work = mkdtempSync(join(tmpdir(), 'hearth-blob-export-'))
after(() => rmSync(work, { recursive: true, force: true }))

async function signedIn(pds: TestPds, identifier: string, password: string): Promise<CookieJar> {
  const jar = new CookieJar()
  jar.store(await fetch(`${pds.url}/account`))
  const res = await fetch(`${pds.url}/account`, {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: jar.csrf(), action: 'sign-in', identifier, password }).toString(),
    redirect: 'manual',
  })
  jar.store(res)
  assert.equal(res.status, 303)
  return jar
}

/** Unpacks a tar with the system's tar (an independent reader); the file names and bytes. */
function untar(bytes: Buffer): Map<string, Buffer> {
  const dir = mkdtempSync(join(work, 'x-'))
  writeFileSync(join(dir, 'a.tar'), bytes)
  execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir })
  const files = new Map<string, Buffer>()
  for (const name of readdirSync(join(dir, 'blobs'))) files.set(name, readFileSync(join(dir, 'blobs', name)))
  return files
}

/**
 * Bytes a stalled-download test sends: more than the kernel's socket buffers and the client's own
 * can absorb (the send buffer grows to tcp_wmem's maximum; the receive buffer of a reader that
 * reads nothing stays near its default), so the server's writes must wait on the client.
 */
function stallPayloadBytes(): number {
  let sendMax = 4 * 1024 * 1024
  try {
    sendMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]) || sendMax
  } catch {
    // not Linux: the default above
  }
  return Math.max(16_000_000, sendMax + 12_000_000)
}

/**
 * Reads one chunk of a download of stallPayloadBytes() or more, then nothing for 2.5 s (the
 * server under test has a 1 s stall limit). The rest must end in an error: cut off, not whole.
 */
async function readOneChunkThenStall(res: Response, what: string): Promise<void> {
  const reader = res.body!.getReader()
  await reader.read()
  await new Promise((r) => setTimeout(r, 2500))
  await assert.rejects(async () => {
    for (;;) if ((await reader.read()).done) break
  }, `${what} was cut off, not completed`)
}

const bytesOf = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))

for (const kind of ['disk', 's3'] as const) {
  describe(`blob export (${kind} store)`, () => {
    let pds: TestPds
    let s3: TestS3 | null = null
    before(async () => {
      s3 = kind === 's3' ? await startS3() : null
      // A short stall limit for the test of a client that stops reading (the others read at once).
      pds = await startTestPds({ env: { ...s3?.env(), HEARTH_STREAM_STALL_MS: '1000' } })
      assert.equal(pds.hearth.services.blobs.kind, kind)
    })
    after(async () => {
      await pds.close()
      await s3?.close()
    })

    it('streams every blob the records use as a tar getBlob agrees with, without taken-down or unused ones', async () => {
      const alice = await pds.createAccount('blobx')
      const upload = async (bytes: Buffer, encoding: string) => (await alice.agent.com.atproto.repo.uploadBlob(bytes, { encoding })).data.blob
      // One bigger than a tar block and not a multiple of 512, one exactly 512, one of 700 KB.
      const a = await upload(bytesOf(1000, 1), 'image/png')
      const b = await upload(bytesOf(512, 2), 'text/plain')
      const c = await upload(bytesOf(700_000, 3), 'video/mp4')
      const hidden = await upload(bytesOf(300, 4), 'image/jpeg')
      await upload(bytesOf(200, 5), 'image/gif') // never used by a record
      for (const [i, blob] of [a, b, c, hidden].entries()) {
        await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.file', record: { $type: 'com.example.file', i, file: blob } })
      }
      const admin = new AtpAgent({ service: pds.url })
      admin.setHeader('authorization', `Basic ${Buffer.from(`admin:${pds.adminPassword}`).toString('base64')}`)
      await admin.com.atproto.admin.updateSubjectStatus({
        subject: { $type: 'com.atproto.admin.defs#repoBlobRef', did: alice.did, cid: hidden.ref.toString() },
        takedown: { applied: true },
      })
      // Deactivated: the owner still gets the blobs (getBlob's rule for the account itself).
      await alice.agent.com.atproto.server.deactivateAccount({})

      const jar = await signedIn(pds, alice.handle, alice.password)
      const page = await (await fetch(`${pds.url}/account`, { headers: { cookie: jar.header() } })).text()
      assert.match(page, /Download my images and videos<\/a> <span class="muted">\(3 files, /)
      const res = await fetch(`${pds.url}/account/blobs.tar?did=${encodeURIComponent(alice.did)}`, { headers: { cookie: jar.header() } })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'application/x-tar')
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="blobx\d*\.test-blobs\.tar"$/)
      const files = untar(Buffer.from(await res.arrayBuffer()))
      const expected = new Map([
        [`${a.ref.toString()}.png`, bytesOf(1000, 1)],
        [`${b.ref.toString()}.txt`, bytesOf(512, 2)],
        [`${c.ref.toString()}.mp4`, bytesOf(700_000, 3)],
      ])
      assert.deepEqual([...files.keys()].sort(), [...expected.keys(), 'missing.txt'].sort())
      for (const [name, bytes] of expected) assert.ok(files.get(name)!.equals(bytes), `${name} holds the uploaded bytes`)
      assert.match(files.get('missing.txt')!.toString(), new RegExp(`\n${hidden.ref.toString()}\n`))
      // The same bytes getBlob gives the account itself.
      await alice.agent.com.atproto.server.activateAccount()
      const served = await alice.agent.com.atproto.sync.getBlob({ did: alice.did, cid: c.ref.toString() })
      assert.ok(Buffer.from(served.data).equals(files.get(`${c.ref.toString()}.mp4`)!))
    })

    it('cuts off a download whose client stops reading, and serves on', async () => {
      // Without the limit the download waited on its client for as long as the connection
      // lasted, holding the blob's open file (or S3 connection).
      const carol = await pds.createAccount('blobstall')
      for (let i = 0; i < Math.ceil(stallPayloadBytes() / 4_000_000); i++) {
        const blob = (await carol.agent.com.atproto.repo.uploadBlob(bytesOf(4_000_000, 10 + i), { encoding: 'video/mp4' })).data.blob
        await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: 'com.example.file', record: { $type: 'com.example.file', i, file: blob } })
      }
      const jar = await signedIn(pds, carol.handle, carol.password)
      const res = await fetch(`${pds.url}/account/blobs.tar?did=${encodeURIComponent(carol.did)}`, { headers: { cookie: jar.header() } })
      assert.equal(res.status, 200)
      await readOneChunkThenStall(res, 'the archive')
      const again = await fetch(`${pds.url}/xrpc/_health`)
      assert.equal(again.status, 200)
      await again.text()
    })

    if (kind === 'disk') {
      it('cuts off a repository download (/account/repo.car) whose client stops reading, which then holds no snapshot', async () => {
        // The download reads from a snapshot of the store; held, it would keep the account's
        // WAL from being checkpointed for as long as the client kept the connection.
        const dave = await pds.createAccount('repostall')
        const text = 'x'.repeat(140_000)
        for (let i = 0; i < Math.ceil(stallPayloadBytes() / 140_000); i++) {
          await dave.agent.com.atproto.repo.createRecord({ repo: dave.did, collection: 'com.example.note', record: { $type: 'com.example.note', i, text } })
        }
        const jar = await signedIn(pds, dave.handle, dave.password)
        const res = await fetch(`${pds.url}/account/repo.car?did=${encodeURIComponent(dave.did)}`, { headers: { cookie: jar.header() } })
        assert.equal(res.status, 200)
        await readOneChunkThenStall(res, 'the CAR')
        // The snapshot is gone: a write and a checkpoint go through and the WAL empties.
        await dave.agent.com.atproto.repo.createRecord({ repo: dave.did, collection: 'com.example.note', record: { $type: 'com.example.note', i: -1, text: 'after' } })
        const store = pds.hearth.services.actors.get(dave.did)!
        const [busy] = store.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>
        assert.deepEqual(busy, { busy: 0, log: 0, checkpointed: 0 })
      })
    }

    it('refuses a browser not signed in to the account, and a download started from another site', async () => {
      const bob = await pds.createAccount('blobz')
      const url = `${pds.url}/account/blobs.tar?did=${encodeURIComponent(bob.did)}`
      const stranger = await fetch(url)
      assert.equal(stranger.status, 403)
      assert.match(await stranger.text(), /Sign in to this account on this device first/)
      const jar = await signedIn(pds, bob.handle, bob.password)
      const crossSite = await fetch(url, { headers: { cookie: jar.header(), 'sec-fetch-site': 'cross-site' } })
      assert.equal(crossSite.status, 403)
      // No blob at all: a valid, empty archive.
      const empty = await fetch(url, { headers: { cookie: jar.header() } })
      assert.equal(empty.status, 200)
      const body = Buffer.from(await empty.arrayBuffer())
      assert.equal(body.length, 1024)
      assert.ok(body.every((x) => x === 0))
    })
  })
}
