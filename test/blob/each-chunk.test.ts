// eachChunk, the event-driven read of an upload body (src/blob/store.ts), and putTemp reading a
// Readable through it: chunks in order, the source held back while the consumer waits, the
// source's failure or early close as the failure, and no temp file left behind either way.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { BlobTooLargeError } from '../../src/blob/disk-store.ts'
import { eachChunk } from '../../src/blob/store.ts'
import { cidForRaw } from '../../src/repo/cid.ts'
import { DID, fixture } from './helpers.ts'

/** A Readable of `count` chunks of `size` bytes, counting how many it was asked for. */
function counted(count: number, size: number): { stream: Readable; pulled: () => number } {
  let pulled = 0
  const stream = new Readable({
    highWaterMark: 4 * size,
    read() {
      if (pulled === count) this.push(null)
      else {
        pulled++
        this.push(Buffer.alloc(size, pulled % 256))
      }
    },
  })
  return { stream, pulled: () => pulled }
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('eachChunk: every chunk in order; a pending promise holds the source back', async () => {
  const { stream, pulled } = counted(200, 1024)
  const seen: number[] = []
  let maxAhead = 0
  await eachChunk(stream, async (chunk) => {
    seen.push(chunk[0]!)
    maxAhead = Math.max(maxAhead, pulled() - seen.length)
    if (seen.length % 50 === 0) await tick(20)
  })
  assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => (i + 1) % 256))
  // While the consumer waited, the source filled at most its own buffer (4 chunks) and no more.
  assert.ok(maxAhead <= 6, `the source ran ${maxAhead} chunks ahead of the consumer`)
  assert.equal(stream.destroyed, true) // ended normally (autoDestroy)
})

test('eachChunk: the source error, an early close and a consumer throw fail it, and the source is left alone', async () => {
  const failing = new Readable({ read() {} })
  const failed = eachChunk(failing, () => {})
  failing.push(Buffer.from('a'))
  failing.destroy(new Error('socket hang up'))
  await assert.rejects(failed, /socket hang up/)

  const closing = new Readable({ read() {} })
  const closed = eachChunk(closing, () => {})
  closing.push(Buffer.from('a'))
  closing.destroy()
  await assert.rejects(closed, (err: NodeJS.ErrnoException) => err.code === 'ERR_STREAM_PREMATURE_CLOSE')
  await assert.rejects(eachChunk(closing, () => {}), (err: NodeJS.ErrnoException) => err.code === 'ERR_STREAM_PREMATURE_CLOSE')

  const { stream } = counted(100, 10)
  await assert.rejects(
    eachChunk(stream, () => {
      throw new Error('enough')
    }),
    /enough/,
  )
  assert.equal(stream.destroyed, false, 'the caller owns the source')
  assert.equal(stream.isPaused(), true, 'left paused, not flowing into nobody')
  stream.destroy()
})

test('putTemp from a Readable: the right CID; over the limit or cut off, no temp file stays', async () => {
  const f = fixture()
  try {
    const bytes = randomBytes(1024 * 1024 + 17)
    const ok = await f.store.putTemp(DID, Readable.from([bytes.subarray(0, 70_000), bytes.subarray(70_000)]))
    assert.equal(ok.cid.toString(), cidForRaw(bytes).toString())
    assert.equal(ok.size, bytes.length)

    const big = counted(1000, 10_000)
    await assert.rejects(f.store.putTemp(DID, big.stream, { maxSize: 100_000 }), (err: unknown) => err instanceof BlobTooLargeError)
    assert.equal(big.stream.destroyed, false, 'the request body is the caller’s to drain')
    big.stream.destroy()

    const cut = new Readable({ read() {} })
    const upload = f.store.putTemp(DID, cut)
    cut.push(randomBytes(300_000))
    await tick(20)
    cut.destroy()
    await assert.rejects(upload, (err: NodeJS.ErrnoException) => err.code === 'ERR_STREAM_PREMATURE_CLOSE')
    assert.deepEqual(
      (await f.store.listTemp(DID)).map((e) => e.name),
      [ok.key],
    )
  } finally {
    f.close()
  }
})
