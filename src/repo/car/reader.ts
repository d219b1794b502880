// CAR v1 reader, in-memory and streaming. Input is untrusted (importRepo bodies, relays, other
// PDSes), so every length is checked against a limit before anything is allocated for it, and
// every block is hashed against its CID unless the caller opts out.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { BlockMap } from '../block-map.ts'
import { decodeCbor } from '../cbor.ts'
import { bytesMatchCid, type Cid, cidFromBytes, isCid } from '../cid.ts'
import { CarError } from './errors.ts'
import { decodeVarintAt, MAX_VARINT_BYTES, varintEnd } from './varint.ts'
import type { CarBlock } from './types.ts'

/**
 * Records are capped at 1 MiB by the PDS and MST nodes and commits are far smaller; 2 MiB
 * leaves headroom for other implementations' blocks without letting one section claim
 * arbitrary memory.
 */
export const DEFAULT_MAX_BLOCK_SIZE = 2 * 1024 * 1024

/** An atproto header holds at most one root (~60 bytes); this only bounds a hostile length. */
export const MAX_HEADER_SIZE = 64 * 1024

/** Every atproto CID (v1, sha-256, dag-cbor or raw) is exactly this long. */
const CID_LENGTH = 36

export interface ReadCarOptions {
  /** Largest block accepted, in bytes, not counting its CID. Default DEFAULT_MAX_BLOCK_SIZE. */
  maxBlockSize?: number
  /** Largest CAR accepted, in bytes. Default: no limit. */
  maxTotalSize?: number
  /** Check that every block hashes to its CID. Default true; only turn off for CARs Hearth wrote itself. */
  verifyHashes?: boolean
}

export interface CarContents {
  /** The single root, or null when the CAR has no root or several. */
  root: Cid | null
  roots: Cid[]
  blocks: BlockMap
}

export interface CarStreamReader {
  root: Cid | null
  roots: Cid[]
  /** Blocks in file order (duplicates included). Ending the loop early closes the source. */
  blocks: AsyncGenerator<CarBlock, void, undefined>
  /** Stops reading and closes the source; for callers that may never iterate `blocks`. */
  close(): Promise<void>
}

interface Limits {
  maxBlockSize: number
  maxTotalSize: number
  verifyHashes: boolean
}

function limitsOf(opts: ReadCarOptions): Limits {
  return {
    maxBlockSize: opts.maxBlockSize ?? DEFAULT_MAX_BLOCK_SIZE,
    maxTotalSize: opts.maxTotalSize ?? Number.POSITIVE_INFINITY,
    verifyHashes: opts.verifyHashes ?? true,
  }
}

function checkHeaderLength(len: number): void {
  if (len === 0) throw new CarError('CAR header is empty')
  if (len > MAX_HEADER_SIZE) throw new CarError(`CAR header length ${len} exceeds ${MAX_HEADER_SIZE} bytes`)
}

function checkSectionLength(len: number, limits: Limits): void {
  if (len < CID_LENGTH) throw new CarError(`CAR section of ${len} bytes is shorter than a CID`)
  if (len - CID_LENGTH > limits.maxBlockSize) {
    throw new CarError(`CAR block of ${len - CID_LENGTH} bytes exceeds the maximum of ${limits.maxBlockSize}`)
  }
}

function parseHeader(bytes: Uint8Array): Cid[] {
  let header: unknown
  try {
    header = decodeCbor(bytes)
  } catch (err) {
    throw new CarError('CAR header is not valid DAG-CBOR', { cause: err })
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header) || header.constructor !== Object) {
    throw new CarError('CAR header is not a map')
  }
  // Other keys are tolerated, as @atproto/repo does: CARv1 readers ignore what they do not know.
  const { version, roots } = header as { version?: unknown; roots?: unknown }
  if (version !== 1) throw new CarError(`unsupported CAR version ${JSON.stringify(version) ?? 'undefined'}`)
  if (!Array.isArray(roots)) throw new CarError('CAR header roots is not an array')
  for (const r of roots) if (!isCid(r)) throw new CarError('CAR header roots contains a non-CID')
  return roots as Cid[]
}

function sectionBlock(section: Uint8Array, limits: Limits): CarBlock {
  let cid: Cid
  try {
    cid = cidFromBytes(section.subarray(0, CID_LENGTH))
  } catch (err) {
    throw new CarError(`CAR section has an invalid CID (${(err as Error).message})`, { cause: err })
  }
  const bytes = section.subarray(CID_LENGTH)
  if (limits.verifyHashes && !bytesMatchCid(cid, bytes)) throw new CarError('CAR block does not match its CID', { cid })
  return { cid, bytes }
}

function soleRoot(roots: Cid[]): Cid | null {
  return roots.length === 1 ? roots[0] : null
}

/**
 * Reads a whole in-memory CAR. CIDs and block bytes are views into `bytes` (no copies): do not
 * reuse the input buffer while the result is alive. A block repeated in the file is kept once.
 */
export function readCar(bytes: Uint8Array, opts: ReadCarOptions = {}): CarContents {
  const limits = limitsOf(opts)
  const end = bytes.length
  if (end > limits.maxTotalSize) throw new CarError(`CAR of ${end} bytes exceeds the maximum of ${limits.maxTotalSize}`)
  if (end === 0) throw new CarError('CAR is empty')

  let pos = varintEnd(bytes, 0, end)
  if (pos < 0) throw new CarError('CAR truncated in the header length')
  const headerLen = decodeVarintAt(bytes, 0)
  checkHeaderLength(headerLen)
  if (pos + headerLen > end) throw new CarError('CAR truncated in the header')
  const roots = parseHeader(bytes.subarray(pos, pos + headerLen))
  pos += headerLen

  const blocks = new BlockMap()
  while (pos < end) {
    const start = varintEnd(bytes, pos, end)
    if (start < 0) throw new CarError('CAR truncated in a section length')
    const len = decodeVarintAt(bytes, pos)
    checkSectionLength(len, limits)
    if (start + len > end) throw new CarError(`CAR truncated: section of ${len} bytes has only ${end - start}`)
    const { cid, bytes: block } = sectionBlock(bytes.subarray(start, start + len), limits)
    blocks.set(cid, block)
    pos = start + len
  }
  return { root: soleRoot(roots), roots, blocks }
}

const EMPTY = new Uint8Array(0)

/**
 * Pulls chunks from the source on demand and holds at most the current chunk plus one
 * section being assembled. A section inside one chunk is returned as a view; one that straddles
 * chunks is copied once into a buffer of exactly its (already bounded) length.
 */
class ChunkReader {
  private readonly iter: AsyncIterator<Uint8Array> | Iterator<Uint8Array>
  private cur: Uint8Array = EMPTY
  private off = 0
  private ended = false
  private received = 0

  constructor(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    private readonly maxTotalSize: number,
  ) {
    const asyncIt = (source as Partial<AsyncIterable<Uint8Array>>)[Symbol.asyncIterator]
    const syncIt = (source as Partial<Iterable<Uint8Array>>)[Symbol.iterator]
    if (typeof asyncIt === 'function') this.iter = asyncIt.call(source)
    else if (typeof syncIt === 'function') this.iter = syncIt.call(source)
    else throw new TypeError('CAR source is not iterable')
  }

  /** Replaces the exhausted current chunk with the next non-empty one; false at end of input. */
  private async pull(): Promise<boolean> {
    if (this.ended) return false
    for (;;) {
      const next = await this.iter.next()
      if (next.done) {
        this.ended = true
        this.cur = EMPTY
        this.off = 0
        return false
      }
      const chunk = next.value
      if (!(chunk instanceof Uint8Array)) throw new CarError('CAR source yielded a chunk that is not bytes')
      if (chunk.length === 0) continue
      this.received += chunk.length
      if (this.received > this.maxTotalSize) throw new CarError(`CAR exceeds the maximum of ${this.maxTotalSize} bytes`)
      this.cur = chunk
      this.off = 0
      return true
    }
  }

  /** Next varint, or null when the input ends cleanly before it (only where a section may begin). */
  async varint(what: string): Promise<number | null> {
    const end = varintEnd(this.cur, this.off, this.cur.length)
    if (end >= 0) {
      const v = decodeVarintAt(this.cur, this.off)
      this.off = end
      return v
    }
    // Split across chunks (or the current chunk is used up): gather its bytes one by one.
    const scratch = new Uint8Array(MAX_VARINT_BYTES)
    let n = 0
    for (;;) {
      while (this.off < this.cur.length) {
        const b = this.cur[this.off++]
        scratch[n++] = b
        if (b < 0x80) return decodeVarintAt(scratch, 0)
        if (n === MAX_VARINT_BYTES) throw new CarError(`varint longer than ${MAX_VARINT_BYTES} bytes`)
      }
      if (!(await this.pull())) {
        if (n === 0) return null
        throw new CarError(`CAR truncated in ${what}`)
      }
    }
  }

  async take(len: number, what: string): Promise<Uint8Array> {
    const avail = this.cur.length - this.off
    if (avail >= len) {
      const view = this.cur.subarray(this.off, this.off + len)
      this.off += len
      return view
    }
    const out = new Uint8Array(len)
    out.set(this.cur.subarray(this.off), 0)
    let filled = avail
    this.off = this.cur.length
    while (filled < len) {
      if (!(await this.pull())) throw new CarError(`CAR truncated in ${what}: ${filled} of ${len} bytes`)
      const n = Math.min(len - filled, this.cur.length)
      out.set(n === this.cur.length ? this.cur : this.cur.subarray(0, n), filled)
      filled += n
      this.off = n
    }
    return out
  }

  async close(): Promise<void> {
    if (this.ended) return
    this.ended = true
    this.cur = EMPTY
    await this.iter.return?.()
  }
}

/**
 * A source that hands over big chunks already in memory resolves every await as a microtask,
 * so hashing a large CAR would hold the event loop for its whole length; a macrotask break
 * every this many bytes bounds that to a few milliseconds at a negligible cost.
 */
const YIELD_EVERY_BYTES = 256 * 1024

async function* readBlocks(reader: ChunkReader, limits: Limits): AsyncGenerator<CarBlock, void, undefined> {
  try {
    let sinceYield = 0
    for (;;) {
      const len = await reader.varint('a section length')
      if (len === null) return
      checkSectionLength(len, limits)
      yield sectionBlock(await reader.take(len, 'a section'), limits)
      sinceYield += len
      if (sinceYield >= YIELD_EVERY_BYTES) {
        sinceYield = 0
        await yieldToEventLoop()
      }
    }
  } finally {
    await reader.close()
  }
}

/**
 * Reads a CAR from a stream of chunks (a node Readable, a fetch body, an array). Resolves once
 * the header is read; blocks are then pulled as the caller iterates, so memory stays at one
 * chunk plus one section whatever the file size. Errors from the source pass through as they
 * are; malformed input raises CarError, from this call (header) or from the iteration.
 */
export async function readCarStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts: ReadCarOptions = {},
): Promise<CarStreamReader> {
  const limits = limitsOf(opts)
  const reader = new ChunkReader(source, limits.maxTotalSize)
  let roots: Cid[]
  try {
    const headerLen = await reader.varint('the header length')
    if (headerLen === null) throw new CarError('CAR is empty')
    checkHeaderLength(headerLen)
    roots = parseHeader(await reader.take(headerLen, 'the header'))
  } catch (err) {
    await reader.close().catch(() => {})
    throw err
  }
  const blocks = readBlocks(reader, limits)
  return {
    root: soleRoot(roots),
    roots,
    blocks,
    async close() {
      // return() on a generator that never started skips its finally, hence the explicit close.
      await blocks.return()
      await reader.close()
    },
  }
}
