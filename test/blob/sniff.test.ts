import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chooseMimeType, sniffBytes } from '../../src/blob/sniff.ts'
import { chunked, DID, fixture } from './helpers.ts'
import { samples } from './samples.ts'

test('magic bytes of the common upload types give the official type names', async () => {
  for (const s of samples) assert.equal(await sniffBytes(s.bytes), s.mime, s.name)
})

test('sniffing works through putTemp however the body is split, even a byte at a time', async () => {
  const f = fixture()
  try {
    for (const s of samples) {
      for (const size of [1, 7, 4096]) {
        const temp = await f.store.putTemp(DID, chunked(s.bytes, size))
        assert.equal(temp.sniffedMime, s.mime, `${s.name} in chunks of ${size}`)
        assert.equal(temp.size, s.bytes.length)
      }
    }
  } finally {
    f.close()
  }
})

test('a type is sniffed at the start of a large upload without holding it back', async () => {
  const f = fixture()
  try {
    const body = Buffer.concat([samples[0].bytes, Buffer.alloc(3 * 1024 * 1024, 7)])
    const temp = await f.store.putTemp(DID, chunked(body, 16 * 1024))
    assert.equal(temp.sniffedMime, 'image/png')
    assert.equal(temp.size, body.length)
  } finally {
    f.close()
  }
})

test('unknown bytes are not sniffed; the Content-Type, then octet-stream, are the fallbacks', async () => {
  assert.equal(await sniffBytes(Buffer.from('just some plain words, nothing magic')), undefined)
  assert.equal(await sniffBytes(new Uint8Array(0)), undefined)
  assert.equal(await sniffBytes(Buffer.from([0xff])), undefined)
  assert.equal(chooseMimeType('image/png', 'text/plain'), 'image/png')
  assert.equal(chooseMimeType(undefined, 'text/plain; charset=utf-8'), 'text/plain')
  assert.equal(chooseMimeType(undefined, 'application/x-custom'), 'application/x-custom')
  assert.equal(chooseMimeType(undefined, undefined), 'application/octet-stream')
  assert.equal(chooseMimeType(undefined, ''), 'application/octet-stream')
  assert.equal(chooseMimeType(undefined, ' ; x=y'), 'application/octet-stream')
})

test('a truncated header sniffs as unknown rather than failing the upload', async () => {
  const f = fixture()
  try {
    // PNG signature and an IHDR length, then nothing: the detector runs out of input.
    const temp = await f.store.putTemp(DID, chunked(samples[0].bytes.subarray(0, 12), 5))
    assert.equal(temp.size, 12)
    assert.equal(temp.sniffedMime, undefined)
    assert.equal(await f.store.hasTemp(DID, temp.key), true)
  } finally {
    f.close()
  }
})

test('a large ID3 tag is skipped through the stream to the MPEG frame behind it', async () => {
  const f = fixture()
  try {
    const tagSize = 1024 * 1024
    const syncsafe = [(tagSize >> 21) & 0x7f, (tagSize >> 14) & 0x7f, (tagSize >> 7) & 0x7f, tagSize & 0x7f]
    const body = Buffer.concat([
      Buffer.from('ID3'),
      Buffer.from([0x04, 0x00, 0x00, ...syncsafe]),
      Buffer.alloc(tagSize),
      Buffer.from([0xff, 0xfb, 0x90, 0x64]),
      Buffer.alloc(100_000),
    ])
    const temp = await f.store.putTemp(DID, chunked(body, 16 * 1024))
    assert.equal(temp.sniffedMime, 'audio/mpeg')
    assert.equal(temp.size, body.length)
    // What follows the tag decides: the detector really read past it.
    const flac = Buffer.concat([body.subarray(0, 10 + tagSize), Buffer.from('fLaC'), Buffer.alloc(1000)])
    assert.equal((await f.store.putTemp(DID, chunked(flac, 16 * 1024))).sniffedMime, 'audio/flac')
    const neither = Buffer.concat([body.subarray(0, 10 + tagSize), Buffer.alloc(1004)])
    assert.equal((await f.store.putTemp(DID, chunked(neither, 16 * 1024))).sniffedMime, undefined)
  } finally {
    f.close()
  }
})
