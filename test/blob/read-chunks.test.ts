// readChunks (src/blob/store.ts): how an upload's body is read into a blob store, through a
// Readable's events, with the store holding the body back while a write or the sniffer catches up.
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { test } from 'node:test'
import { readChunks } from '../../src/blob/store.ts'

const tick = () => new Promise((r) => setImmediate(r))

test('every chunk, in order, and a hold keeps the next one back until it settles', async () => {
  const source = new PassThrough()
  const seen: string[] = []
  let release: (() => void) | undefined
  const done = readChunks(source, (chunk) => {
    seen.push(Buffer.from(chunk).toString())
    if (seen.length === 1) return new Promise<void>((r) => (release = r))
    return undefined
  })
  source.write('a')
  source.write('b')
  source.end('c')
  await tick()
  await tick()
  assert.deepEqual(seen, ['a'], 'held after the first chunk')
  release?.()
  await done
  assert.deepEqual(seen, ['a', 'b', 'c'])
})

test('the end waits for the last hold', async () => {
  const source = Readable.from([Buffer.from('x')], { objectMode: false })
  let settled = false
  let finished = false
  const done = readChunks(source, () => new Promise<void>((r) => setTimeout(() => ((settled = true), r()), 30))).then(() => (finished = true))
  await new Promise((r) => setTimeout(r, 10))
  assert.equal(finished, false)
  await done
  assert.equal(settled, true)
})

test('an error from the taker stops the read and leaves the source paused, not destroyed', async () => {
  const source = new PassThrough()
  source.write('one')
  source.write('two')
  await assert.rejects(
    readChunks(source, () => {
      throw new Error('too large')
    }),
    /too large/,
  )
  assert.equal(source.destroyed, false)
  assert.equal(source.isPaused(), true)
  // The caller can still drain what is left.
  source.end()
  const rest: Buffer[] = []
  for await (const c of source) rest.push(c as Buffer)
  assert.equal(Buffer.concat(rest).toString(), 'two')
})

test('a hold that rejects stops the read with its error', async () => {
  const source = new PassThrough()
  const done = readChunks(source, () => Promise.reject(new Error('disk full')))
  source.end('data')
  await assert.rejects(done, /disk full/)
  assert.equal(source.destroyed, false)
})

test("the source's error, or its close before the end, fails the read", async () => {
  const failing = new PassThrough()
  const a = readChunks(failing, () => undefined)
  failing.write('x')
  failing.destroy(new Error('client went away'))
  await assert.rejects(a, /client went away/)

  const closed = new PassThrough()
  const b = readChunks(closed, () => undefined)
  closed.write('x')
  closed.destroy()
  await assert.rejects(b, (err: Error & { code?: string }) => err.code === 'ERR_STREAM_PREMATURE_CLOSE')
})

test('a source already ended, failed or closed', async () => {
  const ended = new PassThrough()
  ended.end()
  ended.resume()
  await new Promise((r) => ended.once('end', r))
  await readChunks(ended, () => assert.fail('no chunk'))

  const failed = new PassThrough()
  failed.on('error', () => {})
  failed.destroy(new Error('earlier failure'))
  await assert.rejects(readChunks(failed, () => undefined), /earlier failure/)

  const destroyed = new PassThrough()
  destroyed.destroy()
  await assert.rejects(readChunks(destroyed, () => undefined), (err: Error & { code?: string }) => err.code === 'ERR_STREAM_PREMATURE_CLOSE')
})

test('an async iterable that is not a stream is read in order, holds awaited', async () => {
  async function* gen() {
    yield Buffer.from('1')
    yield Buffer.from('2')
  }
  const seen: string[] = []
  await readChunks(gen(), (c) => {
    seen.push(Buffer.from(c).toString())
    return new Promise<void>((r) => setImmediate(r))
  })
  assert.deepEqual(seen, ['1', '2'])
})
