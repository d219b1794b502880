import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { FileTypeParser } from 'file-type'
import { chooseMimeType, HEAD_BYTES, loadHeadTokenizer, MimeSniffer, sniffBytes } from '../../src/blob/sniff.ts'
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

// The sniffer decides most uploads from their head alone and runs the detector a second time,
// over the whole upload, when a detector asks for more. Either way it must answer exactly what
// file-type's stream detection answers over the whole body (what the official PDS runs, and what
// Hearth ran before the first pass existed), however the body arrives.
describe('the sniffer answers as file-type does over the whole stream', () => {
  const bytesOf = (seed: string, n: number) => {
    const out = Buffer.alloc(n)
    let block = createHash('sha256').update(seed).digest()
    for (let o = 0; o < n; o += 32) {
      block.copy(out, o)
      block = createHash('sha256').update(block).digest()
    }
    return out
  }
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  const u32le = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  const u16le = (n: number) => {
    const b = Buffer.alloc(2)
    b.writeUInt16LE(n)
    return b
  }
  const pngChunk = (type: string, data: Uint8Array) => Buffer.concat([u32(data.length), Buffer.from(type, 'latin1'), data, Buffer.alloc(4)])
  const pngWith = (before: Buffer[]) =>
    Buffer.concat([samples[0].bytes.subarray(0, 33), ...before, pngChunk('IDAT', Buffer.alloc(10, 1)), pngChunk('IEND', Buffer.alloc(0))])
  const zipEntry = (name: string, data: Buffer) =>
    Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), u16le(20), u16le(0), u16le(0), u16le(0), u16le(0), u32le(0), u32le(data.length), u32le(data.length), u16le(name.length), u16le(0), Buffer.from(name), data])
  const id3 = (tagSize: number, after: Buffer) =>
    Buffer.concat([Buffer.from('ID3'), Buffer.from([4, 0, 0, (tagSize >> 21) & 0x7f, (tagSize >> 14) & 0x7f, (tagSize >> 7) & 0x7f, tagSize & 0x7f]), Buffer.alloc(tagSize), after])
  const tar = Buffer.concat([Buffer.alloc(257), Buffer.from('ustar\u000000'), Buffer.alloc(1024 - 265)])

  const inputs: Array<{ name: string; bytes: Buffer; reread?: boolean }> = [
    ...samples.map((s) => ({ name: s.name, bytes: s.bytes, reread: false })),
    ...[0, 1, 2, 3, 100, 4100, HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1, 100_000, 1 << 20].map((n) => ({ name: `${n} random bytes`, bytes: bytesOf(`r${n}`, n) })),
    ...samples.flatMap((s) => [1, 2, 3, 8, 12, 16, 32, s.bytes.length >> 1, s.bytes.length - 1].map((n) => ({ name: `${s.name} cut at ${n}`, bytes: s.bytes.subarray(0, n) }))),
    { name: 'jpeg before 1 MiB', bytes: Buffer.concat([samples[1].bytes, bytesOf('j', 1 << 20)]), reread: false },
    { name: 'an MPEG frame behind a 1 MiB ID3 tag', bytes: id3(1 << 20, Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(1000)])), reread: true },
    { name: 'FLAC behind a 1 MiB ID3 tag', bytes: id3(1 << 20, Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(1000)])), reread: true },
    { name: 'nothing behind a 1 MiB ID3 tag', bytes: id3(1 << 20, Buffer.alloc(1004)), reread: true },
    { name: 'an ID3 tag cut short', bytes: id3(1 << 20, Buffer.alloc(0)).subarray(0, 50_000) },
    { name: 'PNG, 40 KiB of text before acTL', bytes: pngWith([pngChunk('tEXt', bytesOf('t', 40_000)), pngChunk('acTL', Buffer.alloc(8))]), reread: true },
    { name: 'PNG, 40 KiB of text before IDAT', bytes: pngWith([pngChunk('tEXt', bytesOf('t', 40_000))]), reread: true },
    { name: 'PNG, acTL first', bytes: pngWith([pngChunk('acTL', Buffer.alloc(8))]), reread: false },
    { name: 'EPUB', bytes: Buffer.concat([zipEntry('mimetype', Buffer.from('application/epub+zip')), bytesOf('z', 2000)]) },
    { name: 'DOCX', bytes: Buffer.concat([zipEntry('[Content_Types].xml', Buffer.from('<Types/>')), zipEntry('word/document.xml', Buffer.from('<w/>'))]) },
    { name: 'a zip, 60 KiB first entry', bytes: Buffer.concat([zipEntry('a.bin', bytesOf('a', 60_000)), zipEntry('mimetype', Buffer.from('application/epub+zip'))]) },
    { name: 'gzip, small', bytes: gzipSync(Buffer.from('hello hello hello')) },
    { name: 'gzip of a tar', bytes: gzipSync(tar) },
    { name: 'gzip, 200 KB', bytes: gzipSync(bytesOf('g', 200_000)) },
    { name: 'tar', bytes: tar },
    { name: 'XML', bytes: Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>') },
  ]

  const reference = async (chunks: Buffer[]) => (await new FileTypeParser().fromStream(Readable.from(chunks, { objectMode: false })))?.mime
  const split = (bytes: Buffer, size: number) => {
    const out: Buffer[] = []
    for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, Math.min(i + size, bytes.length)))
    return out.length > 0 ? out : [bytes]
  }

  for (const input of inputs) {
    test(input.name, async () => {
      const sizes = input.bytes.length > 200_000 ? [4096, 65536, input.bytes.length] : [7, 4096, 65536, Math.max(1, input.bytes.length)]
      for (const size of sizes) {
        const chunks = split(input.bytes, size)
        const sniffer = new MimeSniffer()
        for (const chunk of chunks) await sniffer.push(chunk)
        const got = await sniffer.finish()
        assert.equal(got, await reference(chunks), `${input.name} in chunks of ${size}`)
        // In 4 KiB chunks the first pass sees 32 KiB: whether it needed more is the input's.
        if (size === 4096 && input.reread !== undefined) assert.equal(sniffer.reread, input.reread, `${input.name} in chunks of ${size}: second pass`)
      }
    })
  }

  test('file-type and the head tokenizer share one strtok3 (its end-of-stream error is recognised)', () => {
    const require = createRequire(import.meta.url)
    const fromFileType = createRequire(require.resolve('file-type')).resolve('strtok3')
    assert.equal(fromFileType, require.resolve('strtok3'))
  })
})

// The first pass's tokenizer stands in for file-type's stream tokenizer over the same bytes: a
// random run of reads, peeks and skips gives the same bytes, counts, positions and end-of-stream
// errors as strtok3's own ReadStreamTokenizer, and past the head of an unfinished upload it
// throws PastTheHead exactly where the stream would have read on.
test('the head tokenizer reads as strtok3 reads a stream', async () => {
  const { fromStream } = await import('strtok3')
  const HeadTokenizer = await loadHeadTokenizer()
  let seed = 7
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  for (let run = 0; run < 300; run++) {
    const total = rand(3000)
    const bytes = Buffer.from(Array.from({ length: total }, () => rand(256)))
    const head = rand(2) === 0 ? total : rand(total + 1)
    const complete = head === total
    const stream = await fromStream(Readable.from([bytes], { objectMode: false }))
    const ours = new HeadTokenizer(bytes.subarray(0, head), complete)
    for (let op = 0; op < 12; op++) {
      const kind = rand(3)
      const length = rand(600)
      const skip = rand(4) === 0 ? rand(200) : 0
      const mayBeLess = rand(2) === 0
      const at = stream.position
      const call = async (t: typeof stream | InstanceType<typeof HeadTokenizer>) => {
        const buf = Buffer.alloc(length)
        try {
          if (kind === 0) return { n: await t.readBuffer(buf, { length, position: at + skip, mayBeLess }), buf, pos: t.position }
          if (kind === 1) return { n: await t.peekBuffer(buf, { length, position: at + skip, mayBeLess }), buf, pos: t.position }
          return { n: await t.ignore(length), buf, pos: t.position }
        } catch (err) {
          return { err: (err as Error).constructor.name, pos: t.position }
        }
      }
      const theirs = await call(stream)
      const mine = await call(ours)
      const what = `run ${run} op ${op}: ${['read', 'peek', 'ignore'][kind]} ${length} at ${at}+${skip}${mayBeLess ? ' mayBeLess' : ''}, ${total} bytes, head ${head}`
      const reach = kind === 2 ? at + length : at + skip + length
      if (!complete && reach > head) {
        assert.equal(mine.err, 'PastTheHead', what)
        break
      }
      assert.deepEqual(mine, theirs, what)
      if (theirs.err) break
    }
    await stream.close()
  }
})
