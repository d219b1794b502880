// CAR v1 writer: `varint(len) header` then `varint(len) cid block` per section.
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { type Cid, storedCidLength, writeStoredCidBytes } from '../cid.ts'
import { CarError } from './errors.ts'
import type { CarBlock, PackedCarBlocks, RawCarBlock } from './types.ts'
import { MAX_VARINT_BYTES, varintLength, writeVarint } from './varint.ts'

/** BlockMap iterates as tuples, readCarStream yields objects, a table scan CID bytes: the writer takes any. */
export type CarBlockInput = readonly [Cid, Uint8Array] | CarBlock | RawCarBlock

/** What writeCar streams: blocks one by one, or pages of them packed as a table scan reads them. */
export type CarBlockSource = Iterable<CarBlockInput | PackedCarBlocks> | AsyncIterable<CarBlockInput | PackedCarBlocks>

/**
 * Sections are packed into chunks of this size: one 64 KiB write costs the same syscall and
 * HTTP framing as one 200-byte record, and a 100k-record export would otherwise be 300k writes.
 */
export const CAR_CHUNK_SIZE = 64 * 1024

export interface WriteCarOptions {
  chunkSize?: number
}

function blockCidBytes(b: CarBlockInput): Uint8Array {
  return 'cidBytes' in b ? b.cidBytes : 'cid' in b ? b.cid.bytes : b[0].bytes
}

function blockBytes(b: CarBlockInput): Uint8Array {
  return 'bytes' in b ? b.bytes : b[1]
}

// The header is built by hand rather than through the CBOR encoder: it is tiny, its shape is
// fixed, and carToBytes runs for every firehose event. The test suite checks it byte for byte
// against encodeCbor({ version: 1, roots }).
const ROOTS_KEY = [0x65, 0x72, 0x6f, 0x6f, 0x74, 0x73] // text(5) "roots"
const VERSION_ENTRY = [0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x01] // text(7) "version", 1

function put(buf: Uint8Array, pos: number, bytes: readonly number[]): number {
  for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i] as number
  return pos
}

/** Bytes of the header's CBOR (without its varint length prefix). */
export function carHeaderSize(root: Cid | null): number {
  if (root === null) return 1 + ROOTS_KEY.length + 1 + VERSION_ENTRY.length
  const linkLen = root.bytes.length + 1
  const bytesHead = linkLen < 24 ? 1 : linkLen < 256 ? 2 : 3
  return 1 + ROOTS_KEY.length + 1 + 2 + bytesHead + linkLen + VERSION_ENTRY.length
}

/** Writes the header's CBOR at `pos` (the caller sized `buf` with carHeaderSize); returns the position after it. */
export function writeCarHeader(buf: Uint8Array, pos: number, root: Cid | null): number {
  buf[pos++] = 0xa2
  pos = put(buf, pos, ROOTS_KEY)
  if (root === null) {
    buf[pos++] = 0x80
  } else {
    const cid = root.bytes
    // A CID link is tag 42 over a byte string holding 0x00 (the identity multibase) then the CID.
    const linkLen = cid.length + 1
    buf[pos++] = 0x81
    buf[pos++] = 0xd8
    buf[pos++] = 0x2a
    if (linkLen < 24) {
      buf[pos++] = 0x40 | linkLen
    } else if (linkLen < 256) {
      buf[pos++] = 0x58
      buf[pos++] = linkLen
    } else {
      buf[pos++] = 0x59
      buf[pos++] = linkLen >> 8
      buf[pos++] = linkLen & 0xff
    }
    buf[pos++] = 0x00
    buf.set(cid, pos)
    pos += cid.length
  }
  return put(buf, pos, VERSION_ENTRY)
}

export function encodeCarHeader(root: Cid | null): Uint8Array {
  const out = new Uint8Array(carHeaderSize(root))
  writeCarHeader(out, 0, root)
  return out
}

function allocChunk(size: number): Uint8Array {
  // Every byte of a chunk is written before it is handed out, so zero-filling would be waste.
  return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size)
}

/** Packs sections into fixed-size chunks; finished chunks queue in `ready` for the caller. */
class Chunker {
  private buf: Uint8Array
  private pos = 0
  readonly ready: Uint8Array[] = []

  constructor(private readonly size: number) {
    this.buf = allocChunk(size)
  }

  flush(): void {
    if (this.pos === 0) return
    this.ready.push(this.buf.subarray(0, this.pos))
    this.buf = allocChunk(this.size)
    this.pos = 0
  }

  /** Copies bytes in, splitting them across chunks: a CAR is a byte stream, sections may straddle. */
  write(bytes: Uint8Array): void {
    const len = bytes.length
    if (this.size - this.pos > len) {
      this.buf.set(bytes, this.pos)
      this.pos += len
      return
    }
    let i = 0
    while (i < len) {
      const n = Math.min(this.size - this.pos, len - i)
      this.buf.set(bytes.subarray(i, i + n), this.pos)
      this.pos += n
      i += n
      if (this.pos === this.size) this.flush()
    }
  }

  private sectionLength(len: number): void {
    if (this.size - this.pos >= MAX_VARINT_BYTES) {
      this.pos = writeVarint(this.buf, this.pos, len)
    } else {
      const tmp = new Uint8Array(MAX_VARINT_BYTES)
      this.write(tmp.subarray(0, writeVarint(tmp, 0, len)))
    }
  }

  section(cid: Uint8Array, block: Uint8Array): void {
    this.sectionLength(cid.length + block.length)
    this.write(cid)
    this.block(block)
  }

  /** A section's block, after its CID. */
  private block(block: Uint8Array): void {
    const size = this.size
    if (block.length >= size) {
      // Copying a block this large buys nothing: it goes out as views of its own bytes. Still a
      // chunk at most: a stalled reader is measured by how long one chunk waits to be taken.
      this.flush()
      for (let i = 0; i < block.length; i += size) this.ready.push(block.subarray(i, i + size))
    } else {
      this.write(block)
    }
  }

  /**
   * The sections of a packed page, each CID decoded from its text straight into the chunk and
   * each block copied from the page's buffer: no object per block. A page whose three lists
   * disagree throws (a CID string holding a space or a comma in a length would show as that).
   */
  packed(page: PackedCarBlocks): void {
    const { cids, lengths, bytes } = page
    const cidsEnd = cids.length
    const lensEnd = lengths.length
    let ci = 0
    let li = 0
    let off = 0
    while (ci < cidsEnd) {
      let ce = cids.indexOf(' ', ci)
      if (ce < 0) ce = cidsEnd
      let len = 0
      const lenStart = li
      for (; li < lensEnd; li++) {
        const d = lengths.charCodeAt(li) - 48
        if (d === 44 - 48) break
        if (d < 0 || d > 9) throw new CarError('packed blocks: a length is not a number')
        len = len * 10 + d
      }
      if (li === lenStart || off + len > bytes.length) throw new CarError('packed blocks: lengths and bytes disagree')
      li++ // the comma
      const cidLen = storedCidLength(ci, ce)
      this.sectionLength(cidLen + len)
      if (this.size - this.pos >= cidLen) {
        this.pos = writeStoredCidBytes(cids, ci, ce, this.buf, this.pos)
      } else {
        const tmp = new Uint8Array(cidLen)
        writeStoredCidBytes(cids, ci, ce, tmp, 0)
        this.write(tmp)
      }
      this.block(bytes.subarray(off, off + len))
      off += len
      ci = ce + 1
    }
    if (li < lensEnd || off !== bytes.length) throw new CarError('packed blocks: lengths and bytes disagree')
  }
}

function isAsyncIterable<T>(x: Iterable<T> | AsyncIterable<T>): x is AsyncIterable<T> {
  return typeof (x as AsyncIterable<T>)[Symbol.asyncIterator] === 'function'
}

/**
 * Streams a CAR with `root` as its only root (or no root: getBlocks-style) and the blocks in the
 * order given. Yields chunks of at most `chunkSize` bytes; a block of `chunkSize` or more is
 * yielded as views of its own bytes, without copying. Memory held is one chunk, never the whole file.
 * Chunks are fresh buffers, so the consumer may keep them. Blocks are written as given: no hash
 * check, no de-duplication.
 */
export async function* writeCar(
  root: Cid | null,
  blocks: CarBlockSource,
  opts: WriteCarOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const chunkSize = opts.chunkSize ?? CAR_CHUNK_SIZE
  if (!(chunkSize >= 64)) throw new RangeError('chunkSize must be at least 64 bytes')
  const out = new Chunker(chunkSize)
  const header = encodeCarHeader(root)
  // The header is framed like a section with an empty CID: varint(length) then the bytes.
  out.section(new Uint8Array(0), header)
  const ready = out.ready
  // A sync source gets a plain loop: `for await` over it would cost a promise per block.
  if (isAsyncIterable(blocks)) {
    for await (const b of blocks) {
      if ('lengths' in b) out.packed(b)
      else out.section(blockCidBytes(b), blockBytes(b))
      if (ready.length > 0) yield* ready.splice(0)
    }
  } else {
    for (const b of blocks) {
      if ('lengths' in b) out.packed(b)
      else out.section(blockCidBytes(b), blockBytes(b))
      if (ready.length > 0) yield* ready.splice(0)
    }
  }
  out.flush()
  yield* ready.splice(0)
}

/**
 * The whole CAR in one exactly-sized buffer. For small CARs built in memory (firehose commit
 * and sync events, getRecord proofs); large exports go through writeCar.
 */
export function carToBytes(root: Cid | null, blocks: Iterable<CarBlockInput>): Uint8Array {
  // Two passes (size, then write) need a re-iterable list; a generator would be empty the second time.
  const list: readonly CarBlockInput[] = Array.isArray(blocks) ? blocks : Array.from(blocks)
  const header = encodeCarHeader(root)
  let total = varintLength(header.length) + header.length
  for (let i = 0; i < list.length; i++) {
    const len = blockCidBytes(list[i]).length + blockBytes(list[i]).length
    total += varintLength(len) + len
  }
  const out = total < 4096 ? new Uint8Array(total) : allocChunk(total)
  let pos = writeVarint(out, 0, header.length)
  out.set(header, pos)
  pos += header.length
  for (let i = 0; i < list.length; i++) {
    const cid = blockCidBytes(list[i])
    const bytes = blockBytes(list[i])
    pos = writeVarint(out, pos, cid.length + bytes.length)
    out.set(cid, pos)
    pos += cid.length
    out.set(bytes, pos)
    pos += bytes.length
  }
  return out
}

function closedError(): Error {
  return Object.assign(new Error('stream closed before the CAR was fully written'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}

function stalledError(stallMs: number): Error {
  return Object.assign(new Error(`the reader took nothing for ${stallMs} ms`), { code: 'ERR_STREAM_STALLED' })
}

function drained(out: Writable, stallMs: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown): void => {
      out.off('drain', onDrain)
      out.off('close', onClose)
      out.off('error', onError)
      if (timer !== undefined) clearTimeout(timer)
      if (err === undefined) resolve()
      else reject(err)
    }
    const timer = stallMs === undefined ? undefined : setTimeout(() => done(stalledError(stallMs)), stallMs)
    const onDrain = (): void => done()
    // A client that disconnects closes the response without 'drain': waiting only for 'drain'
    // would leave this export (and the block cursor behind it) hanging forever.
    const onClose = (): void => done(closedError())
    const onError = (err: unknown): void => done(err)
    out.on('drain', onDrain)
    out.on('close', onClose)
    out.on('error', onError)
  })
}

export interface WriteCarToStreamOptions extends WriteCarOptions {
  /** End the stream when the CAR is complete (default true). */
  end?: boolean
  /**
   * Give up (destroying the stream, rejecting with code ERR_STREAM_STALLED) when a write waits
   * this long for the stream to take more: a reader that stops reading must not hold the source
   * (a store snapshot) for as long as it keeps the connection. No limit by default.
   */
  stallMs?: number
}

/**
 * Writes a CAR to a node Writable (an HTTP response, a file) honouring backpressure. Resolves
 * once the data is flushed (or written, with `end: false`). If the source or the stream fails,
 * the stream is destroyed, so a reader sees a cut-off body rather than a CAR that looks whole,
 * and the error is rethrown.
 */
export async function writeCarToStream(
  out: Writable,
  root: Cid | null,
  blocks: CarBlockSource,
  opts: WriteCarToStreamOptions = {},
): Promise<void> {
  try {
    for await (const chunk of writeCar(root, blocks, opts)) {
      if (out.destroyed || out.writableEnded) throw closedError()
      if (!out.write(chunk)) {
        if (out.destroyed) throw closedError()
        await drained(out, opts.stallMs)
      }
    }
    if (opts.end !== false) {
      out.end()
      await finished(out)
    }
  } catch (err) {
    // No error argument: destroy(err) would emit 'error', which crashes the process when the
    // caller has no listener; the caller gets the error from this promise instead.
    out.destroy()
    throw err
  }
}
