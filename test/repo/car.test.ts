import assert from 'node:assert/strict'
import { PassThrough, Readable, Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { parseCidFromBytes } from '@atproto/common'
import * as ref from '@atproto/repo'
import { BlockMap } from '../../src/repo/block-map.ts'
import { encodeCbor } from '../../src/repo/cbor.ts'
import { type Cid, cidForCbor, cidForRaw, cidFromBytes, sha256 } from '../../src/repo/cid.ts'
import {
  CAR_CHUNK_SIZE,
  CarError,
  type CarBlock,
  carToBytes,
  encodeCarHeader,
  type PackedCarBlocks,
  readCar,
  type ReadCarOptions,
  readCarStream,
  writeCar,
  writeCarToStream,
} from '../../src/repo/car/index.ts'
import { decodeVarintAt, encodeVarint, varintEnd, varintLength } from '../../src/repo/car/varint.ts'
import { prng } from '../helpers/prng.ts'

// ---------------------------------------------------------------------------------------------
// helpers

function record(i: number, size = 200): Uint8Array {
  return encodeCbor({
    $type: 'app.bsky.feed.post',
    createdAt: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    text: `post ${i} `.padEnd(Math.max(0, size - 80), 'x'),
  })
}

function makeBlocks(n: number, size = 200): Array<[Cid, Uint8Array]> {
  const out: Array<[Cid, Uint8Array]> = []
  for (let i = 0; i < n; i++) {
    if (i % 7 === 3) {
      const raw = new Uint8Array(size).fill(i & 0xff)
      out.push([cidForRaw(raw), raw])
    } else {
      const bytes = record(i, size)
      out.push([cidForCbor(bytes), bytes])
    }
  }
  return out
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks))
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of gen) out.push(c)
  return out
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

function assertSameBlocks(actual: Iterable<readonly [Cid, Uint8Array]>, expected: Iterable<readonly [Cid, Uint8Array]>): void {
  const a = [...actual].map(([c, b]) => [c.$link, Buffer.from(b).toString('hex')])
  const e = [...expected].map(([c, b]) => [c.$link, Buffer.from(b).toString('hex')])
  assert.deepEqual(a, e)
}

function* chunked(bytes: Uint8Array, sizes: () => number): Generator<Uint8Array> {
  let i = 0
  while (i < bytes.length) {
    const n = Math.max(1, sizes())
    yield bytes.subarray(i, i + n)
    i += n
  }
}

async function* asAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  for (const x of it) yield x
}


async function readStreamFully(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts?: ReadCarOptions,
): Promise<{ roots: Cid[]; root: Cid | null; blocks: Array<[Cid, Uint8Array]> }> {
  const r = await readCarStream(source, opts)
  const blocks: Array<[Cid, Uint8Array]> = []
  for await (const b of r.blocks) blocks.push([b.cid, b.bytes])
  return { roots: r.roots, root: r.root, blocks }
}

function toRefCid(cid: Cid) {
  return parseCidFromBytes(cid.bytes)
}

/** Every reader path must reject the input with a CarError, never another error or a hang. */
async function assertRejected(bytes: Uint8Array, pattern: RegExp, opts?: ReadCarOptions): Promise<void> {
  assert.throws(() => readCar(bytes, opts), (err: unknown) => {
    assert.ok(err instanceof CarError, `readCar threw ${String(err)}`)
    assert.match(err.message, pattern)
    return true
  })
  for (const source of [
    () => [bytes],
    () => chunked(bytes, () => 1),
    () => asAsync(randomChunks(bytes, bytes.length, 7)),
  ]) {
    await assert.rejects(readStreamFully(source(), opts), (err: unknown) => {
      assert.ok(err instanceof CarError, `readCarStream threw ${String(err)}`)
      assert.match(err.message, pattern)
      return true
    })
  }
}

function randomChunks(bytes: Uint8Array, seed: number, max = 100): Generator<Uint8Array> {
  const r = prng(seed)
  return chunked(bytes, () => Math.floor(r() * max) + 1)
}

function section(cidBytes: Uint8Array, block: Uint8Array): Uint8Array {
  return concat([encodeVarint(cidBytes.length + block.length), cidBytes, block])
}

function headerSection(value: unknown): Uint8Array {
  const h = encodeCbor(value)
  return concat([encodeVarint(h.length), h])
}

const BLOCKS = makeBlocks(50)
const ROOT = BLOCKS[0][0]
const CAR = carToBytes(ROOT, BLOCKS)
const HEADER = headerSection({ version: 1, roots: [ROOT] })

// ---------------------------------------------------------------------------------------------

describe('varint', () => {
  it('round-trips boundary values and reports their length', () => {
    for (const v of [0, 1, 127, 128, 255, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1]) {
      const enc = encodeVarint(v)
      assert.equal(enc.length, varintLength(v), `length of ${v}`)
      assert.equal(varintEnd(enc, 0, enc.length), enc.length)
      assert.equal(decodeVarintAt(enc, 0), v)
    }
    assert.deepEqual([...encodeVarint(300)], [0xac, 0x02])
  })

  it('reports an incomplete varint and refuses one over 10 bytes', () => {
    assert.equal(varintEnd(Uint8Array.of(0x80, 0x80), 0, 2), -1)
    assert.throws(() => varintEnd(new Uint8Array(10).fill(0x80), 0, 10), CarError)
    assert.equal(varintEnd(Uint8Array.of(...new Uint8Array(9).fill(0x80), 0x01), 0, 10), 10)
  })
})

describe('CAR header', () => {
  it('matches the generic DAG-CBOR encoding', () => {
    assert.deepEqual(encodeCarHeader(ROOT), encodeCbor({ version: 1, roots: [ROOT] }))
    assert.deepEqual(encodeCarHeader(null), encodeCbor({ version: 1, roots: [] }))
    const raw = cidForRaw(new Uint8Array([1, 2, 3]))
    assert.deepEqual(encodeCarHeader(raw), encodeCbor({ version: 1, roots: [raw] }))
  })
})

describe('CAR round trip', () => {
  it('carToBytes → readCar', () => {
    const out = readCar(CAR)
    assert.equal(out.root?.$link, ROOT.$link)
    assert.equal(out.roots.length, 1)
    assertSameBlocks(out.blocks, BLOCKS)
  })

  it('writeCar yields the same bytes as carToBytes, from sync, async, tuple and object sources', async () => {
    assert.deepEqual(concat(await collect(writeCar(ROOT, BLOCKS))), CAR)
    assert.deepEqual(concat(await collect(writeCar(ROOT, asAsync(BLOCKS)))), CAR)
    const objects: CarBlock[] = BLOCKS.map(([cid, bytes]) => ({ cid, bytes }))
    assert.deepEqual(concat(await collect(writeCar(ROOT, objects))), CAR)
    assert.deepEqual(carToBytes(ROOT, objects), CAR)
    const bm = new BlockMap()
    for (const [c, b] of BLOCKS) bm.set(c, b)
    assert.deepEqual(carToBytes(ROOT, bm), CAR)
    // a one-shot generator must not come out empty from the two-pass carToBytes
    assert.deepEqual(carToBytes(ROOT, BLOCKS.values()), CAR)
  })

  it('tiny chunk sizes split sections anywhere and still produce the same bytes', async () => {
    const buffers = new Set<ArrayBufferLike>(BLOCKS.map(([, b]) => b.buffer))
    for (const chunkSize of [64, 100, 257, 1000]) {
      const chunks = await collect(writeCar(ROOT, BLOCKS, { chunkSize }))
      for (const c of chunks) assert.ok(c.length <= chunkSize, `a chunk of ${c.length} bytes`)
      // Blocks of chunkSize or more come through as views of their own bytes, not copies.
      if (BLOCKS.some(([, b]) => b.length >= chunkSize)) assert.ok(chunks.some((c) => buffers.has(c.buffer)))
      assert.deepEqual(concat(chunks), CAR)
    }
  })

  it('a CAR with no root and with no blocks', async () => {
    const noRoot = carToBytes(null, BLOCKS)
    const r = readCar(noRoot)
    assert.equal(r.root, null)
    assert.deepEqual(r.roots, [])
    assertSameBlocks(r.blocks, BLOCKS)
    assert.deepEqual(concat(await collect(writeCar(null, BLOCKS))), noRoot)

    const empty = carToBytes(ROOT, [])
    const e = readCar(empty)
    assert.equal(e.root?.$link, ROOT.$link)
    assert.equal(e.blocks.size, 0)
    const s = await readStreamFully([empty])
    assert.equal(s.blocks.length, 0)
  })

  it('several roots: roots lists them, root is null', async () => {
    const two = concat([headerSection({ version: 1, roots: [BLOCKS[0][0], BLOCKS[1][0]] }), ...BLOCKS.map(([c, b]) => section(c.bytes, b))])
    const r = readCar(two)
    assert.equal(r.root, null)
    assert.deepEqual(r.roots.map((c) => c.$link), [BLOCKS[0][0].$link, BLOCKS[1][0].$link])
    assert.equal((await readStreamFully([two])).roots.length, 2)
  })

  it('an empty block and a header with unknown extra keys are accepted', () => {
    const empty = new Uint8Array(0)
    const car = concat([headerSection({ version: 1, roots: [ROOT], note: 'x' }), section(cidForRaw(empty).bytes, empty)])
    const r = readCar(car)
    assert.equal(r.blocks.get(cidForRaw(empty))?.length, 0)
  })

  it('duplicate blocks: readCar keeps one, the stream yields both', async () => {
    const [c, b] = BLOCKS[1]
    const car = carToBytes(ROOT, [BLOCKS[1], [c, b]])
    assert.equal(readCar(car).blocks.size, 1)
    assert.equal((await readStreamFully([car])).blocks.length, 2)
  })

  it('blocks of 64 KiB and more are yielded as views of their own bytes, a chunk at most each, without copying', async () => {
    const big = new Uint8Array(200_000).fill(7)
    const bigCid = cidForRaw(big)
    const blocks: Array<[Cid, Uint8Array]> = [BLOCKS[1], [bigCid, big], BLOCKS[2]]
    const chunks = await collect(writeCar(ROOT, blocks))
    const views = chunks.filter((c) => c.buffer === big.buffer)
    assert.deepEqual(
      views.map((c) => [c.byteOffset, c.length]),
      [0, 1, 2, 3].map((i) => [i * CAR_CHUNK_SIZE, Math.min(CAR_CHUNK_SIZE, big.length - i * CAR_CHUNK_SIZE)]),
    )
    for (const c of chunks) assert.ok(c.length <= CAR_CHUNK_SIZE)
    assert.deepEqual(concat(chunks), carToBytes(ROOT, blocks))
    assertSameBlocks(readCar(concat(chunks)).blocks, blocks)
  })
})

/** Blocks packed into pages of `per` as RepoSnapshot.allBlocks reads them from the block table. */
function packed(blocks: ReadonlyArray<readonly [Cid, Uint8Array]>, per: number): PackedCarBlocks[] {
  const pages: PackedCarBlocks[] = []
  for (let i = 0; i < blocks.length; i += per) {
    const page = blocks.slice(i, i + per)
    pages.push({
      cids: page.map(([c]) => c.$link).join(' '),
      lengths: page.map(([, b]) => b.length).join(','),
      bytes: concat(page.map(([, b]) => b)),
    })
  }
  return pages
}

describe('CAR from packed pages', () => {
  const big = new Uint8Array(CAR_CHUNK_SIZE + 1000).map((_, i) => i & 0xff)
  const empty = new Uint8Array(0)
  const blocks: Array<[Cid, Uint8Array]> = [...BLOCKS.slice(0, 20), [cidForRaw(empty), empty], [cidForRaw(big), big], ...BLOCKS.slice(20)]
  const expected = carToBytes(ROOT, blocks)

  it('the same bytes as the blocks one by one, whatever the page and chunk sizes', async () => {
    for (const per of [1, 3, 7, 256]) {
      for (const chunkSize of [64, 100, 257, 1000, CAR_CHUNK_SIZE]) {
        const chunks = await collect(writeCar(ROOT, packed(blocks, per), { chunkSize }))
        assert.deepEqual(concat(chunks), expected, `${per} per page, chunks of ${chunkSize}`)
        for (const c of chunks) assert.ok(c.length <= chunkSize, `a chunk of ${c.length} bytes over ${chunkSize}`)
      }
    }
    // Packed pages and single blocks mixed in one source, sync and async.
    const mixed = [...packed(blocks.slice(0, 10), 4), ...blocks.slice(10, 30), ...packed(blocks.slice(30), 9)]
    assert.deepEqual(concat(await collect(writeCar(ROOT, mixed))), expected)
    assert.deepEqual(concat(await collect(writeCar(ROOT, asAsync(mixed)))), expected)
  })

  it('a page whose lists disagree fails the stream instead of writing a wrong CAR', async () => {
    const [page] = packed(BLOCKS.slice(0, 4), 4)
    const bad: Array<[string, PackedCarBlocks]> = [
      ['a length missing', { ...page, lengths: page.lengths.slice(0, page.lengths.lastIndexOf(',')) }],
      ['a length too many', { ...page, lengths: `${page.lengths},5` }],
      ['bytes short', { ...page, bytes: page.bytes.subarray(1) }],
      ['bytes over', { ...page, bytes: concat([page.bytes, new Uint8Array(1)]) }],
      ['a length not a number', { ...page, lengths: page.lengths.replace(',', ',x') }],
      ['a CID not base32', { ...page, cids: page.cids.replace(' b', ' B') }],
      ['a CID string split by a space', { ...page, cids: page.cids.replace(/^(.{20})/, '$1 ') }],
    ]
    for (const [what, p] of bad) await assert.rejects(collect(writeCar(ROOT, [p])), (err: unknown) => err instanceof Error, what)
  })
})

describe('CAR interop with @atproto/repo', () => {
  it('a CAR written by Hearth is read by @atproto/repo with identical blocks', async () => {
    const r = await ref.readCarWithRoot(CAR)
    assert.equal(r.root.toString(), ROOT.$link)
    const got = [...r.blocks.entries()].map((e) => [e.cid.toString(), Buffer.from(e.bytes).toString('hex')])
    assert.deepEqual(got, BLOCKS.map(([c, b]) => [c.$link, Buffer.from(b).toString('hex')]))

    const noRoot = await ref.readCar(carToBytes(null, BLOCKS))
    assert.equal(noRoot.roots.length, 0)
    assert.equal(noRoot.blocks.size, BLOCKS.length)
  })

  it('@atproto/repo writes byte-identical CARs, and Hearth reads them', async () => {
    const bm = new ref.BlockMap()
    for (const [c, b] of BLOCKS) bm.set(toRefCid(c), b)
    const viaFile = await ref.blocksToCarFile(toRefCid(ROOT), bm)
    assert.ok(bytesEqual(viaFile, CAR))
    const viaStream = concat(
      await collect(ref.writeCarStream(null, asAsync(BLOCKS.map(([c, bytes]) => ({ cid: toRefCid(c), bytes }))))),
    )
    assert.ok(bytesEqual(viaStream, carToBytes(null, BLOCKS)))

    const r = readCar(viaFile)
    assert.equal(r.root?.$link, ROOT.$link)
    assertSameBlocks(r.blocks, BLOCKS)
    const s = await readStreamFully(ref.writeCarStream(toRefCid(ROOT), asAsync(BLOCKS.map(([c, bytes]) => ({ cid: toRefCid(c), bytes })))))
    assertSameBlocks(s.blocks, BLOCKS)
  })

  it('both readers agree on a larger mixed CAR', async () => {
    const blocks = makeBlocks(2000, 500)
    const car = carToBytes(blocks[0][0], blocks)
    const theirs = await ref.readCar(car)
    const ours = readCar(car)
    assert.equal(theirs.blocks.size, ours.blocks.size)
    for (const e of theirs.blocks.entries()) {
      const mine = ours.blocks.get(cidFromBytes(e.cid.bytes))
      assert.ok(mine && bytesEqual(mine, e.bytes))
    }
  })
})

describe('streaming reader', () => {
  it('gives the same result one byte at a time and in random chunk sizes', async () => {
    const whole = await readStreamFully([CAR])
    assert.equal(whole.root?.$link, ROOT.$link)
    assertSameBlocks(whole.blocks, BLOCKS)
    assertSameBlocks((await readStreamFully(chunked(CAR, () => 1))).blocks, BLOCKS)
    assertSameBlocks((await readStreamFully(asAsync(chunked(CAR, () => 1)))).blocks, BLOCKS)
    for (let seed = 1; seed <= 20; seed++) {
      const max = [3, 40, 300, 5000][seed % 4]
      assertSameBlocks((await readStreamFully(asAsync(randomChunks(CAR, seed, max)))).blocks, BLOCKS)
    }
    // empty chunks are skipped, not taken for the end
    const withEmpties = [...chunked(CAR, () => 17)].flatMap((c) => [new Uint8Array(0), c])
    assertSameBlocks((await readStreamFully(withEmpties)).blocks, BLOCKS)
  })

  it('splits a varint across chunks', async () => {
    // A block of 200 bytes has a two-byte section length: cut right between its two bytes.
    const big = new Uint8Array(300).fill(1)
    const cid = cidForRaw(big)
    const car = carToBytes(null, [[cid, big]])
    const headerLen = car.length - (2 + 36 + 300)
    const parts = [car.subarray(0, headerLen + 1), car.subarray(headerLen + 1, headerLen + 2), car.subarray(headerLen + 2)]
    const out = await readStreamFully(asAsync(parts))
    assert.equal(out.blocks.length, 1)
    assert.equal(out.blocks[0][0].$link, cid.$link)
  })

  it('reads from a node Readable', async () => {
    const out = await readStreamFully(Readable.from(chunked(CAR, () => 1000)))
    assertSameBlocks(out.blocks, BLOCKS)
  })

  it('closes the source when the caller stops early or calls close()', async () => {
    let closed = 0
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* chunked(CAR, () => 50)
      } finally {
        closed++
      }
    }
    const r = await readCarStream(source())
    for await (const _ of r.blocks) break
    assert.equal(closed, 1)

    const r2 = await readCarStream(source())
    await r2.close()
    assert.equal(closed, 2)

    await assert.rejects(readCarStream((async function* () {
      try {
        yield Uint8Array.of(0x05, 0x00)
        yield new Uint8Array(1000)
      } finally {
        closed++
      }
    })()), CarError)
    assert.equal(closed, 3)
  })

  it('lets the event loop run while reading a large in-memory chunk', async () => {
    const blocks = makeBlocks(5000)
    const car = carToBytes(null, blocks)
    let ticked = false
    setImmediate(() => {
      ticked = true
    })
    const r = await readCarStream([car])
    let seenBeforeTick = 0
    for await (const _ of r.blocks) if (!ticked) seenBeforeTick++
    assert.ok(ticked && seenBeforeTick < blocks.length, `${seenBeforeTick} blocks read before a macrotask ran`)
  })

  it('passes source errors through as they are', async () => {
    const boom = new Error('socket reset')
    async function* source(): AsyncGenerator<Uint8Array> {
      yield CAR.subarray(0, 500)
      throw boom
    }
    await assert.rejects(readStreamFully(source()), (err) => err === boom)
  })

  it('rejects a source that yields something other than bytes', async () => {
    await assert.rejects(readStreamFully(['not bytes'] as unknown as Uint8Array[]), CarError)
  })
})

describe('malformed CARs are rejected with CarError', () => {
  const firstSection = section(BLOCKS[1][0].bytes, BLOCKS[1][1])

  it('empty and truncated headers', async () => {
    await assertRejected(new Uint8Array(0), /empty/)
    await assertRejected(Uint8Array.of(0x80), /truncated in the header length/)
    await assertRejected(HEADER.subarray(0, 10), /truncated in the header/)
    await assertRejected(Uint8Array.of(0x00), /header is empty/)
    await assertRejected(concat([encodeVarint(2 ** 40), new Uint8Array(20)]), /header length/)
  })

  it('headers that are not a valid CAR v1 header', async () => {
    await assertRejected(concat([Uint8Array.of(3), Uint8Array.of(0xff, 0xff, 0xff)]), /not valid DAG-CBOR/)
    await assertRejected(headerSection([1, [ROOT]]), /not a map/)
    await assertRejected(headerSection('hello'), /not a map/)
    await assertRejected(headerSection(ROOT), /not a map/)
    await assertRejected(headerSection({ version: 2, roots: [ROOT] }), /unsupported CAR version 2/)
    await assertRejected(headerSection({ roots: [ROOT] }), /unsupported CAR version/)
    await assertRejected(headerSection({ version: '1', roots: [ROOT] }), /unsupported CAR version/)
    await assertRejected(headerSection({ version: 1 }), /roots is not an array/)
    await assertRejected(headerSection({ version: 1, roots: ROOT }), /roots is not an array/)
    await assertRejected(headerSection({ version: 1, roots: [ROOT.$link] }), /non-CID/)
    // header length covers more than the CBOR value
    const h = encodeCbor({ version: 1, roots: [ROOT] })
    await assertRejected(concat([encodeVarint(h.length + 1), h, Uint8Array.of(0)]), /not valid DAG-CBOR/)
    // a root that is not an atproto CID (dag-pb codec)
    const pb = Uint8Array.from(ROOT.bytes)
    pb[1] = 0x70
    const bad = Uint8Array.from(encodeCbor({ version: 1, roots: [ROOT] }))
    bad.set(pb, Buffer.from(bad).indexOf(Buffer.from(ROOT.bytes)))
    await assertRejected(concat([encodeVarint(bad.length), bad]), /not valid DAG-CBOR/)
  })

  it('truncated sections', async () => {
    await assertRejected(CAR.subarray(0, CAR.length - 1), /truncated/)
    await assertRejected(concat([HEADER, firstSection.subarray(0, 1)]), /truncated in a section length|shorter than a CID/)
    await assertRejected(concat([HEADER, firstSection.subarray(0, 20)]), /truncated/)
    await assertRejected(concat([HEADER, firstSection.subarray(0, 50)]), /truncated/)
    await assertRejected(concat([HEADER, Uint8Array.of(0x80)]), /truncated in a section length/)
  })

  it('section lengths: too short, over the limit, over-long varints', async () => {
    await assertRejected(concat([HEADER, Uint8Array.of(0)]), /shorter than a CID/)
    await assertRejected(concat([HEADER, encodeVarint(35), new Uint8Array(35)]), /shorter than a CID/)
    // claims 1 GiB with 10 bytes behind it: must fail on the length, not try to allocate
    await assertRejected(concat([HEADER, encodeVarint(2 ** 30), new Uint8Array(10)]), /exceeds the maximum/)
    await assertRejected(concat([HEADER, encodeVarint(2 ** 60), new Uint8Array(10)]), /exceeds the maximum/)
    await assertRejected(concat([HEADER, firstSection]), /exceeds the maximum of 100/, { maxBlockSize: 100 })
    await assertRejected(concat([HEADER, new Uint8Array(10).fill(0x80), Uint8Array.of(1)]), /varint longer than 10/)
    await assertRejected(concat([new Uint8Array(10).fill(0x80), Uint8Array.of(1)]), /varint longer than 10/)
    // the default limit is 2 MiB of block
    const okBig = new Uint8Array(2 * 1024 * 1024)
    assert.equal(readCar(carToBytes(null, [[cidForRaw(okBig), okBig]])).blocks.size, 1)
    const tooBig = new Uint8Array(2 * 1024 * 1024 + 1)
    await assertRejected(carToBytes(null, [[cidForRaw(tooBig), tooBig]]), /exceeds the maximum of 2097152/)
  })

  it('CIDs that are not CIDv1 sha-256 dag-cbor/raw', async () => {
    const [cid, block] = BLOCKS[1]
    const digest = sha256(block)
    const v0 = Uint8Array.of(0x12, 0x20, ...digest, 0, 0) // CIDv0 is a bare multihash
    const pb = Uint8Array.of(1, 0x70, 0x12, 0x20, ...digest)
    const sha512 = Uint8Array.of(1, 0x71, 0x13, 0x20, ...digest)
    const shortDigest = Uint8Array.of(1, 0x71, 0x12, 0x1f, ...digest)
    const v2 = Uint8Array.from(cid.bytes)
    v2[0] = 2
    for (const bad of [v0, pb, sha512, shortDigest, v2]) {
      await assertRejected(concat([HEADER, section(bad, block)]), /invalid CID/)
    }
  })

  it('a block that does not hash to its CID names the CID', async () => {
    const [cid, block] = BLOCKS[1]
    const tampered = Uint8Array.from(block)
    tampered[tampered.length - 1] ^= 1
    const car = concat([HEADER, section(cid.bytes, tampered)])
    await assertRejected(car, new RegExp(`does not match its CID: ${cid.$link}`))
    try {
      readCar(car)
    } catch (err) {
      assert.ok(err instanceof CarError)
      assert.equal(err.cid?.$link, cid.$link)
    }
    // opting out of verification accepts it
    assert.equal(readCar(car, { verifyHashes: false }).blocks.size, 1)
    assert.equal((await readStreamFully([car], { verifyHashes: false })).blocks.length, 1)
  })

  it('trailing garbage', async () => {
    await assertRejected(concat([CAR, Uint8Array.of(0)]), /shorter than a CID/)
    await assertRejected(concat([CAR, Uint8Array.of(0x01)]), /shorter than a CID/)
    await assertRejected(concat([CAR, Uint8Array.of(0x40)]), /truncated/)
    await assertRejected(concat([CAR, new Uint8Array(100).fill(0x30)]), /invalid CID/)
    await assertRejected(concat([CAR, Buffer.from('trailing text after the car')]), /truncated|invalid CID/)
  })

  it('maxTotalSize', async () => {
    await assertRejected(CAR, /exceeds the maximum of 1000/, { maxTotalSize: 1000 })
    assert.equal(readCar(CAR, { maxTotalSize: CAR.length }).blocks.size, BLOCKS.length)
    assert.equal((await readStreamFully([CAR], { maxTotalSize: CAR.length })).blocks.length, BLOCKS.length)
  })

  it('random corruption never escapes as anything but CarError', async () => {
    const r = prng(99)
    for (let i = 0; i < 300; i++) {
      const bad = Uint8Array.from(CAR)
      const flips = 1 + Math.floor(r() * 3)
      for (let f = 0; f < flips; f++) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256)
      const cut = r() < 0.3 ? bad.subarray(0, Math.floor(r() * bad.length)) : bad
      let syncErr: unknown = null
      try {
        readCar(cut)
      } catch (err) {
        syncErr = err
      }
      if (syncErr !== null) assert.ok(syncErr instanceof CarError, `readCar threw ${String(syncErr)}`)
      let streamErr: unknown = null
      try {
        await readStreamFully(randomChunks(cut, i, 64))
      } catch (err) {
        streamErr = err
      }
      if (streamErr !== null) assert.ok(streamErr instanceof CarError, `readCarStream threw ${String(streamErr)}`)
      assert.equal(syncErr === null, streamErr === null, 'both readers agree')
    }
  })
})

describe('large CARs stream without being held whole', () => {
  it('100k blocks: writer chunks stay ≤ 64 KiB and the reader consumes them as they come', async () => {
    const N = 100_000
    let produced = 0
    function* blocks(): Generator<[Cid, Uint8Array]> {
      for (let i = 0; i < N; i++) {
        const bytes = record(i)
        produced++
        yield [cidForCbor(bytes), bytes]
      }
    }
    let chunks = 0
    let bytes = 0
    let maxChunk = 0
    let maxLead = 0
    let consumed = 0
    async function* tap(): AsyncGenerator<Uint8Array> {
      for await (const c of writeCar(cidForCbor(record(0)), blocks())) {
        chunks++
        bytes += c.length
        maxChunk = Math.max(maxChunk, c.length)
        // The writer may only run ahead of the reader by about one chunk's worth of blocks.
        maxLead = Math.max(maxLead, produced - consumed)
        yield c
      }
    }
    const r = await readCarStream(tap())
    for await (const _ of r.blocks) consumed++
    assert.equal(consumed, N)
    assert.ok(maxChunk <= CAR_CHUNK_SIZE)
    assert.ok(chunks >= Math.floor(bytes / CAR_CHUNK_SIZE), `${chunks} chunks for ${bytes} bytes`)
    assert.ok(maxLead < 2 * (CAR_CHUNK_SIZE / 200), `writer ran ${maxLead} blocks ahead`)
  })
})

describe('writeCarToStream', () => {
  it('honours backpressure and writes the same bytes', async () => {
    const blocks = makeBlocks(3000)
    const expected = carToBytes(ROOT, blocks)
    const received: Uint8Array[] = []
    let writes = 0
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        writes++
        received.push(chunk)
        setImmediate(cb)
      },
    })
    await writeCarToStream(slow, ROOT, blocks)
    assert.ok(slow.writableFinished)
    assert.ok(writes > 5)
    assert.deepEqual(concat(received), expected)
  })

  it('rejects, without hanging, when the destination closes mid-way', async () => {
    const blocks = makeBlocks(5000)
    const dest = new PassThrough({ highWaterMark: 1024 }) // never read: fills at once
    setTimeout(() => dest.destroy(), 20)
    await assert.rejects(writeCarToStream(dest, ROOT, blocks), /closed/)
  })

  it('destroys the destination when the block source fails', async () => {
    const dest = new PassThrough()
    dest.resume()
    async function* source(): AsyncGenerator<[Cid, Uint8Array]> {
      yield BLOCKS[1]
      throw new Error('db gone')
    }
    await assert.rejects(writeCarToStream(dest, ROOT, source()), /db gone/)
    assert.ok(dest.destroyed)
  })

  it('with stallMs, gives up on a destination that takes nothing for that long, and destroys it', async () => {
    const blocks = makeBlocks(5000)
    const dest = new PassThrough({ highWaterMark: 1024 }) // never read: fills at once
    const started = Date.now()
    await assert.rejects(writeCarToStream(dest, ROOT, blocks, { stallMs: 150 }), (err: Error & { code?: string }) => err.code === 'ERR_STREAM_STALLED')
    assert.ok(Date.now() - started >= 140, 'gave up before the limit')
    assert.ok(dest.destroyed)
  })

  it('with stallMs, a slow reader that keeps taking is not cut off', async () => {
    const blocks = makeBlocks(3000)
    const received: Uint8Array[] = []
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk)
        setTimeout(cb, 2)
      },
    })
    await writeCarToStream(slow, ROOT, blocks, { stallMs: 100 })
    assert.deepEqual(concat(received), carToBytes(ROOT, blocks))
  })

  it('end: false leaves the stream open', async () => {
    const dest = new PassThrough()
    const got: Uint8Array[] = []
    dest.on('data', (c: Buffer) => got.push(c))
    await writeCarToStream(dest, ROOT, BLOCKS, { end: false })
    assert.ok(!dest.writableEnded)
    dest.end()
    assert.deepEqual(concat(got), CAR)
  })
})
