import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { BlobNotFoundError, BlobTooLargeError, DiskBlobStore } from '../../src/blob/disk-store.ts'
import { READ_BUFFER_BYTES, READ_BUFFERS_MAX } from '../../src/blob/read-buffers.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { XrpcError } from '../../src/errors.ts'
import { chunked, DID, fixture, readAll } from './helpers.ts'

async function* randomChunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  let i = 0
  while (i < bytes.length) {
    const n = 1 + Math.floor(Math.random() * 100_000)
    yield bytes.subarray(i, Math.min(i + n, bytes.length))
    i += n
  }
}

test('streamed uploads of 1 MiB and 10 MiB get the CID of the whole buffer, and land intact', async () => {
  const f = fixture()
  try {
    for (const size of [1024 * 1024, 10 * 1024 * 1024]) {
      const bytes = randomBytes(size)
      const temp = await f.store.putTemp(DID, randomChunks(bytes))
      assert.equal(temp.cid.$link, cidForRaw(bytes).$link)
      assert.equal(temp.size, size)
      assert.equal(temp.sniffedMime, undefined)
      assert.match(temp.key, /^[a-z2-7]{52}$/)
      assert.ok(readFileSync(f.store.tempPath(DID, temp.key)).equals(bytes))
      await f.store.makePermanent(DID, temp.key, temp.cid)
      assert.ok(Buffer.from(await f.store.getBytes(DID, temp.cid)).equals(bytes))
      assert.ok((await readAll(await f.store.getStream(DID, temp.cid))).equals(bytes))
    }
  } finally {
    f.close()
  }
})

test('a Node Readable is accepted as the source, and an empty upload is a valid blob', async () => {
  const f = fixture()
  try {
    const bytes = randomBytes(300_000)
    const temp = await f.store.putTemp(DID, Readable.from(chunked(bytes, 65536)))
    assert.equal(temp.cid.$link, cidForRaw(bytes).$link)
    const empty = await f.store.putTemp(DID, chunked(new Uint8Array(0), 1))
    assert.equal(empty.size, 0)
    assert.equal(empty.cid.$link, cidForRaw(new Uint8Array(0)).$link)
  } finally {
    f.close()
  }
})

test('the official on-disk layout: <loc>/<did>/<cid>, <loc>/tempt/<did>/<key>, <loc>/quarantine/<did>/<cid>', async () => {
  const f = fixture()
  try {
    const loc = join(f.dir, 'blocks')
    const bytes = Buffer.from('layout')
    const temp = await f.store.putTemp(DID, chunked(bytes, 3))
    assert.ok(existsSync(join(loc, 'tempt', DID, temp.key)))
    await f.store.makePermanent(DID, temp.key, temp.cid)
    assert.ok(existsSync(join(loc, DID, temp.cid.$link)))
    assert.ok(!existsSync(join(loc, 'tempt', DID, temp.key)))
    await f.store.quarantine(DID, temp.cid)
    assert.ok(existsSync(join(loc, 'quarantine', DID, temp.cid.$link)))
    assert.ok(!existsSync(join(loc, DID, temp.cid.$link)))
  } finally {
    f.close()
  }
})

test('the size limit: exactly the limit passes; one byte more aborts mid-stream and leaves no temp file', async () => {
  const f = fixture()
  try {
    const limit = 1_000_000
    const ok = await f.store.putTemp(DID, chunked(randomBytes(limit), 10_000), { maxSize: limit })
    assert.equal(ok.size, limit)
    assert.equal((await f.store.listTemp(DID)).length, 1)

    let pulled = 0
    async function* tooBig(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 1000; i++) {
        pulled++
        yield randomBytes(10_000)
      }
    }
    await assert.rejects(
      f.store.putTemp(DID, tooBig(), { maxSize: limit }),
      (err: unknown) =>
        err instanceof BlobTooLargeError && err instanceof XrpcError && err.status === 413 && err.error === 'PayloadTooLarge',
    )
    assert.equal(pulled, 101, 'stopped at the chunk that crossed the limit')
    const left = await f.store.listTemp(DID)
    assert.deepEqual(
      left.map((e) => e.name),
      [ok.key],
    )
  } finally {
    f.close()
  }
})

test('on a size error the caller keeps its Readable: it is not destroyed', async () => {
  const f = fixture()
  try {
    const source = Readable.from(chunked(randomBytes(200_000), 50_000))
    await assert.rejects(f.store.putTemp(DID, source, { maxSize: 120_000 }), BlobTooLargeError)
    assert.equal(source.destroyed, false)
    assert.deepEqual(await f.store.listTemp(DID), [])
  } finally {
    f.close()
  }
})

test('a source that fails mid-stream leaves no temp file', async () => {
  const f = fixture()
  try {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield randomBytes(300_000)
      yield randomBytes(300_000)
      throw new Error('connection reset')
    }
    await assert.rejects(f.store.putTemp(DID, broken()), /connection reset/)
    assert.deepEqual(await f.store.listTemp(DID), [])
  } finally {
    f.close()
  }
})

test('makePermanent is idempotent, and BlobNotFound when neither file exists', async () => {
  const f = fixture()
  try {
    const bytes = randomBytes(5000)
    const a = await f.store.putTemp(DID, chunked(bytes, 1000))
    await f.store.makePermanent(DID, a.key, a.cid)
    await f.store.makePermanent(DID, a.key, a.cid) // again: temp gone, permanent there
    assert.equal(await f.store.hasStored(DID, a.cid), true)
    // The same bytes uploaded again: the new temp file is dropped, the permanent one kept.
    const b = await f.store.putTemp(DID, chunked(bytes, 777))
    assert.equal(b.cid.$link, a.cid.$link)
    await f.store.makePermanent(DID, b.key, b.cid)
    assert.equal(await f.store.hasTemp(DID, b.key), false)
    assert.ok(Buffer.from(await f.store.getBytes(DID, a.cid)).equals(bytes))
    const other = cidForRaw(Buffer.from('never uploaded'))
    await assert.rejects(f.store.makePermanent(DID, 'nosuchkey', other), BlobNotFoundError)
    await assert.rejects(f.store.getBytes(DID, other), BlobNotFoundError)
    await assert.rejects(f.store.getStream(DID, other), BlobNotFoundError)
  } finally {
    f.close()
  }
})

test('makePermanent across filesystems copies durably and leaves no staging file', async () => {
  // /dev/shm is a tmpfs on Linux, a different device from the temp dir; elsewhere the same
  // assertions hold for the plain rename.
  const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/hearth-blob-tmp-') : mkdtempSync(join(tmpdir(), 'hearth-blob-tmp-'))
  const f = fixture({ tempLocation: shm })
  try {
    const bytes = randomBytes(700_000)
    const temp = await f.store.putTemp(DID, chunked(bytes, 65536))
    assert.ok(existsSync(join(shm, DID, temp.key)))
    await f.store.makePermanent(DID, temp.key, temp.cid)
    assert.ok(Buffer.from(await f.store.getBytes(DID, temp.cid)).equals(bytes))
    assert.equal(existsSync(join(shm, DID, temp.key)), false)
    assert.deepEqual(
      (await f.store.listStored(DID)).map((e) => e.name),
      [temp.cid.$link],
    )
  } finally {
    f.close()
    rmSync(shm, { recursive: true, force: true })
  }
})

/**
 * A script in the fixture's folder that makes a disk store on it (as `store`) and then runs
 * `body`, for tests that need their own process.
 */
function storeScript(f: ReturnType<typeof fixture>, name: string, body: string): string {
  const script = join(f.dir, name)
  const storeModule = fileURLToPath(new URL('../../src/blob/disk-store.ts', import.meta.url))
  writeFileSync(
    script,
    `import { DiskBlobStore } from ${JSON.stringify(storeModule)}
const store = new DiskBlobStore({ location: ${JSON.stringify(join(f.dir, 'blocks'))} })
${body}`,
  )
  return script
}

test('a process killed mid-upload leaves a partial temp file only, never a file at a permanent path', async () => {
  const f = fixture()
  const script = storeScript(
    f,
    'upload-forever.mts',
    `let sent = 0
async function* forever() {
  for (;;) {
    yield new Uint8Array(64 * 1024).fill(sent & 0xff)
    sent += 64 * 1024
    if (sent === 2 * 1024 * 1024) process.stdout.write('written\\n')
    await new Promise((r) => setTimeout(r, 1))
  }
}
await store.putTemp(${JSON.stringify(DID)}, forever())
`,
  )
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('close', (code) => resolve(code))
      child.once('error', reject)
    })
    let killed = false
    child.stdout.on('data', (d: Buffer) => {
      if (!killed && d.toString().includes('written')) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    await exited
    assert.equal(killed, true, 'the upload was under way when the process died')
    const temp = await f.store.listTemp(DID)
    assert.equal(temp.length, 1)
    assert.ok(temp[0].size > 0, 'some bytes had reached the temp file')
    assert.deepEqual(await f.store.listStored(DID), [], 'nothing at a permanent path')
  } finally {
    f.close()
  }
})

test('a file write that fails while the body still arrives fails the upload, leaves no temp file, and no rejection unhandled', async () => {
  // Writes go to the pool while the next bytes are read from the body, so a write's failure
  // surfaces a batch later. A file-size limit (RLIMIT_FSIZE; node ignores SIGXFSZ) makes the
  // kernel refuse the file's bytes past 100 KiB with EFBIG.
  const f = fixture()
  const script = storeScript(
    f,
    'upload-past-limit.mts',
    `process.on('unhandledRejection', (err) => { console.log('unhandled', String(err)); process.exitCode = 3 })
let pulled = 0
async function* body() {
  for (let i = 0; i < 32; i++) {
    pulled++
    yield new Uint8Array(32 * 1024).fill(i)
    await new Promise((r) => setTimeout(r, 1))
  }
}
try {
  await store.putTemp(${JSON.stringify(DID)}, body())
  console.log('stored')
} catch (err) {
  console.log('failed', err.code, pulled)
}
await new Promise((r) => setTimeout(r, 50))
`,
  )
  try {
    const child = spawn('bash', ['-c', 'ulimit -f 100 && exec "$0" --import tsx "$1"', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('close', resolve)
      child.once('error', reject)
    })
    assert.equal(code, 0, out)
    const m = /^failed (\S+) (\d+)$/m.exec(out)
    assert.ok(m, `the upload failed: ${out}`)
    assert.equal(m[1], 'EFBIG')
    assert.ok(Number(m[2]) > 8 && Number(m[2]) < 32, `the failure surfaced while the body was still being read (${m[2]} chunks pulled)`)
    assert.doesNotMatch(out, /unhandled/)
    assert.deepEqual(await f.store.listTemp(DID), [], 'no temp file left')
  } finally {
    f.close()
  }
})

test('quarantine hides a blob from reads; unquarantine brings it back', async () => {
  const f = fixture()
  try {
    const bytes = Buffer.from('taken down content')
    const cid = cidForRaw(bytes)
    await f.store.putPermanent(DID, cid, bytes)
    await f.store.quarantine(DID, cid)
    assert.equal(await f.store.hasStored(DID, cid), false)
    assert.equal(await f.store.isQuarantined(DID, cid), true)
    await assert.rejects(f.store.getStream(DID, cid), BlobNotFoundError)
    await assert.rejects(f.store.getBytes(DID, cid), BlobNotFoundError)
    await assert.rejects(f.store.quarantine(DID, cid), BlobNotFoundError)
    await f.store.unquarantine(DID, cid)
    assert.ok(Buffer.from(await f.store.getBytes(DID, cid)).equals(bytes))
    assert.equal(await f.store.isQuarantined(DID, cid), false)
    await assert.rejects(f.store.unquarantine(DID, cid), BlobNotFoundError)
  } finally {
    f.close()
  }
})

test('putPermanent refuses bytes that do not match the CID', async () => {
  const f = fixture()
  try {
    await assert.rejects(f.store.putPermanent(DID, cidForRaw(Buffer.from('a')), Buffer.from('b')), /do not hash/)
    assert.deepEqual(await f.store.listStored(DID), [])
  } finally {
    f.close()
  }
})

test('delete, deleteMany, deleteAll, and listTemp with file ages', async () => {
  const f = fixture()
  try {
    const cids = []
    for (let i = 0; i < 5; i++) {
      const bytes = Buffer.from(`blob ${i}`)
      const cid = cidForRaw(bytes)
      await f.store.putPermanent(DID, cid, bytes)
      cids.push(cid)
    }
    await f.store.delete(DID, cids[0])
    await f.store.delete(DID, cids[0]) // deleting a missing blob is fine
    await f.store.deleteMany(DID, [cids[1], cids[2].$link])
    assert.deepEqual(
      (await f.store.listStored(DID)).map((e) => e.name).sort(),
      [cids[3].$link, cids[4].$link].sort(),
    )
    const before = Date.now()
    const temp = await f.store.putTemp(DID, chunked(Buffer.from('pending'), 2))
    const [entry] = await f.store.listTemp(DID)
    assert.equal(entry.name, temp.key)
    assert.equal(entry.size, 7)
    assert.ok(Math.abs(entry.mtimeMs - before) < 60_000)
    await f.store.quarantine(DID, cids[3])
    await f.store.deleteAll(DID)
    assert.equal(existsSync(join(f.dir, 'blocks', DID)), false)
    assert.equal(existsSync(join(f.dir, 'blocks', 'tempt', DID)), false)
    assert.equal(existsSync(join(f.dir, 'blocks', 'quarantine', DID)), false)
    assert.deepEqual(await f.store.listTemp(DID), [])
  } finally {
    f.close()
  }
})

test('an upload makes its temp folder when it is missing: the first of an account, and after deleteAll', async () => {
  const f = fixture()
  try {
    const tempDir = join(f.dir, 'blocks', 'tempt', DID)
    assert.equal(existsSync(tempDir), false)
    for (const round of [1, 2]) {
      const bytes = Buffer.from(`upload ${round}`)
      const temp = await f.store.putTemp(DID, chunked(bytes, 3))
      assert.ok(readFileSync(join(tempDir, temp.key)).equals(bytes))
      // A second upload finds the folder there.
      const again = await f.store.putTemp(DID, chunked(bytes, 3))
      assert.deepEqual((await f.store.listTemp(DID)).map((e) => e.name).sort(), [temp.key, again.key].sort())
      await f.store.deleteAll(DID)
      assert.equal(existsSync(tempDir), false)
    }
  } finally {
    f.close()
  }
})

test('paths cannot leave their folders: bad DIDs, keys and CIDs are refused', async () => {
  const f = fixture()
  try {
    const cid = cidForRaw(Buffer.from('x'))
    assert.throws(() => f.store.storedPath('../etc', cid), TypeError)
    assert.throws(() => f.store.storedPath('did:plc:a/../../x', cid), TypeError)
    assert.throws(() => f.store.tempPath(DID, '../../passwd'), TypeError)
    assert.throws(() => f.store.tempPath(DID, '..'), TypeError)
    assert.throws(() => f.store.storedPath(DID, '../x'), TypeError)
    await assert.rejects(f.store.putTemp('did:web:../x', chunked(Buffer.from('x'), 1)), TypeError)
    await assert.rejects(f.store.deleteStoredFile(DID, '../x'))
    assert.equal(statSync(f.dir).isDirectory(), true)
  } finally {
    f.close()
  }
})

test('the temp location may be configured apart; its default is <location>/tempt', () => {
  const a = new DiskBlobStore({ location: '/data/blocks' })
  assert.equal(a.tempLocation, '/data/blocks/tempt')
  assert.equal(a.quarantineLocation, '/data/blocks/quarantine')
  const b = new DiskBlobStore({ location: '/data/blocks', tempLocation: '/scratch/tmp' })
  assert.equal(b.tempPath(DID, 'abc'), `/scratch/tmp/${DID}/abc`)
})

test('getForSend: a blob of up to a read buffer comes whole in a reused buffer, given back by release; larger ones, or any while every buffer is out, stream', async () => {
  const f = fixture()
  try {
    const small = randomBytes(READ_BUFFER_BYTES)
    const large = randomBytes(READ_BUFFER_BYTES + 1)
    const smallCid = cidForRaw(small)
    const largeCid = cidForRaw(large)
    await f.store.putPermanent(DID, smallCid, small)
    await f.store.putPermanent(DID, largeCid, large)

    const first = await f.store.getForSend(DID, smallCid)
    assert.ok('bytes' in first, 'a blob of exactly a buffer is read whole')
    assert.ok(Buffer.from(first.bytes).equals(small))
    const buffer = first.bytes.buffer
    first.release()
    first.release() // twice is harmless: the buffer is not given back twice
    const again = await f.store.getForSend(DID, smallCid)
    assert.ok('bytes' in again)
    assert.equal(again.bytes.buffer, buffer, 'the buffer given back is the one taken next')
    again.release()
    const taken: Array<{ bytes: Uint8Array; release: () => void }> = []
    for (let i = 0; i < READ_BUFFERS_MAX; i++) {
      const body = await f.store.getForSend(DID, smallCid)
      assert.ok('bytes' in body)
      taken.push(body)
    }
    assert.equal(new Set(taken.map((t) => t.bytes.buffer)).size, READ_BUFFERS_MAX, 'no buffer handed out twice at once')
    const whileOut = await f.store.getForSend(DID, smallCid)
    assert.ok('stream' in whileOut, 'with every buffer out, a read streams')
    assert.ok((await readAll(whileOut.stream)).equals(small))
    for (const t of taken) t.release()

    const big = await f.store.getForSend(DID, largeCid)
    assert.ok('stream' in big, 'a blob larger than a buffer streams')
    assert.ok((await readAll(big.stream)).equals(large))
  } finally {
    f.close()
  }
})
