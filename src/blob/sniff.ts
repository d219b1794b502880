// MIME sniffing of uploads by magic bytes, as the official PDS does: it runs `file-type` over the
// upload stream and keeps the detected type, else the request's Content-Type. Hearth uses
// file-type 21, the last major that runs on Node 20; the official 0.5.x uses 22 (same detectors
// and type names, Node >= 22 only), the official 0.4.x used 16.
//
// Two passes, one answer. Most uploads are decided by their first few KiB, so the detector first
// runs over the head of the upload held in memory (at least HEAD_BYTES, or the whole upload if it
// is shorter), through a tokenizer that reads as strtok3's stream tokenizer reads a stream: the
// size unknown, forward only, the same end-of-stream errors. If any detector asks for a byte past
// the head before the upload has ended, that pass is dropped whatever it returned, and the
// detector runs again over a live branch of the whole upload (the head replayed, then every chunk
// as it arrives), so that a detector that needs to look further in (an ID3 tag before an MP3
// frame, PNG chunks before IDAT) sees exactly what the official's stream tokenizer sees. Either
// way the detector reads the same bytes in the same order and answers the same
// (test/blob/sniff.test.ts holds both passes to file-type's stream answer); the first pass spares
// most uploads a stream, the copy of their first chunks into it and the stream tokenizer's
// promise per read ("uploadBlob: the type sniffed from the head" in docs/BENCHMARKS.md).
import { PassThrough } from 'node:stream'
import type { FileTypeParser } from 'file-type'
import type { IFileInfo, IReadChunkOptions } from 'strtok3'

// Loaded with the first upload: file-type and its detectors are several MB of resident memory
// that a server which only serves reads never needs; strtok3 (file-type's tokenizers) with them.
interface Detection {
  FileTypeParser: typeof FileTypeParser
  HeadTokenizer: HeadTokenizerClass
}
let detection: Promise<Detection> | null = null
const loadDetection = () =>
  (detection ??= Promise.all([import('file-type'), import('strtok3')]).then(([fileType, strtok3]) => ({
    FileTypeParser: fileType.FileTypeParser,
    HeadTokenizer: defineHeadTokenizer(strtok3),
  })))

/** The head tokenizer's class, for tests (loads file-type and strtok3 if not yet loaded). */
export async function loadHeadTokenizer(): Promise<HeadTokenizerClass> {
  return (await loadDetection()).HeadTokenizer
}

const DEFAULT_MIME = 'application/octet-stream'

/** The bytes gathered before the first pass runs (or the whole upload, if it is shorter). */
export const HEAD_BYTES = 32 * 1024

// While the first pass runs, the chunks that arrive are kept for a second pass; past this many
// bytes the upload waits for the first pass to decide.
const HELD_BYTES = 1024 * 1024

// file-type bounds its scans of unknown-size streams at 16 MiB (ID3 tags, PNG chunks); past this
// the detector is told the input ended, so a detector can never hold an upload back for long.
const MAX_SNIFF_BYTES = 20 * 1024 * 1024

/** Thrown by the head's tokenizer for a byte past the head of an upload that has not ended. */
class PastTheHead extends Error {}

/**
 * The head of an upload, read as file-type reads a stream (strtok3's ReadStreamTokenizer): no
 * random access, the size unknown, reads and peeks only forward, a short exact read an
 * EndOfStreamError, `mayBeLess` reads cut at the end. When the head is the whole upload
 * (`complete`) its end is the stream's end; otherwise a read or peek past it throws, and the
 * tokenizer remembers that it did, since a detector may catch the error and answer anyway (that
 * answer is not used).
 */
function defineHeadTokenizer({ AbstractTokenizer, EndOfStreamError }: typeof import('strtok3')) {
  return class HeadTokenizer extends AbstractTokenizer {
    fileInfo: IFileInfo
    wentPast = false

    constructor(
      private readonly head: Uint8Array,
      private readonly complete: boolean,
    ) {
      // No options: file-type's own (an abort signal) are unset, as Hearth never aborts a detection.
      super()
      this.fileInfo = {}
    }

    supportsRandomAccess(): boolean {
      return false
    }

    /** The bytes [from, from + length) of the upload, or as many as it has if it ends before. */
    private available(from: number, length: number): number {
      if (from + length <= this.head.length) return length
      if (!this.complete) {
        this.wentPast = true
        throw new PastTheHead()
      }
      return Math.max(0, this.head.length - from)
    }

    async readBuffer(target: Uint8Array, options?: IReadChunkOptions): Promise<number> {
      const o = this.normalizeOptions(target, options)
      if (o.position > this.position) await this.ignore(o.position - this.position)
      if (o.length === 0) return 0
      const count = this.available(this.position, o.length)
      target.set(this.head.subarray(this.position, this.position + count))
      this.position += count
      if (!o.mayBeLess && count < o.length) throw new EndOfStreamError()
      return count
    }

    async peekBuffer(target: Uint8Array, options?: IReadChunkOptions): Promise<number> {
      const o = this.normalizeOptions(target, options)
      if (o.length === 0) return 0
      if (this.fileInfo.size !== undefined && o.position >= this.fileInfo.size) {
        if (o.mayBeLess) return 0
        throw new EndOfStreamError()
      }
      const skip = o.position - this.position
      this.validateBufferSize(o.length + skip)
      // A peek at a later position looks ahead over the bytes in between, as a stream must.
      const count = this.available(this.position, o.length + skip)
      if (!o.mayBeLess && count < o.length + skip) throw new EndOfStreamError()
      const peeked = Math.max(0, count - skip)
      target.set(this.head.subarray(o.position, o.position + peeked))
      return peeked
    }

    override async ignore(length: number): Promise<number> {
      if (length < 0) throw new RangeError('ignore length must be ≥ 0 bytes')
      this.validateLength(length, 'ignore length')
      this.validateLength(this.position + length, 'end position')
      if (length > 0 && this.fileInfo.size !== undefined && length > this.fileInfo.size - this.position) throw new EndOfStreamError()
      const count = this.available(this.position, length)
      this.position += count
      if (count < length) throw new EndOfStreamError()
      return length
    }
  }
}

type HeadTokenizerClass = ReturnType<typeof defineHeadTokenizer>
type HeadTokenizer = InstanceType<HeadTokenizerClass>

/** Runs file-type's detection; a detector that chokes on malformed input means "unknown", as upstream. */
function detect(run: (parser: FileTypeParser, d: Detection) => Promise<{ mime: string } | undefined>): Promise<string | undefined> {
  return loadDetection()
    .then((d) => run(new d.FileTypeParser(), d))
    .then(
      (type) => type?.mime,
      () => undefined,
    )
}

/** The second pass: the detector reads a live branch of the upload. */
class BranchSniffer {
  private readonly branch = new PassThrough()
  private settled = false
  private fed = 0
  readonly result: Promise<string | undefined>

  constructor() {
    // The branch is destroyed by the parser once it is done; later writes are skipped, but an
    // error event on a destroyed branch must not become an uncaught exception.
    this.branch.on('error', () => {})
    this.result = detect((parser) => parser.fromStream(this.branch)).finally(() => {
      this.settled = true
      this.branch.destroy()
    })
  }

  push(chunk: Uint8Array): Promise<void> | undefined {
    if (this.settled || this.branch.destroyed || this.branch.writableEnded) return undefined
    this.fed += chunk.byteLength
    const more = this.branch.write(chunk)
    if (this.fed >= MAX_SNIFF_BYTES) {
      this.branch.end()
      return undefined
    }
    if (more) return undefined
    return new Promise<void>((resolve) => {
      const done = () => {
        this.branch.off('drain', done)
        this.branch.off('close', done)
        resolve()
      }
      this.branch.on('drain', done)
      this.branch.on('close', done)
      this.result.then(done, done)
    })
  }

  finish(): Promise<string | undefined> {
    if (!this.settled && !this.branch.destroyed && !this.branch.writableEnded) this.branch.end()
    return this.result
  }

  abort(): void {
    this.branch.destroy()
  }
}

export class MimeSniffer {
  /** Every chunk so far, until the first pass has decided. */
  private held: Uint8Array[] = []
  private heldBytes = 0
  /** The first pass, once started: true when it decided, false when the second pass must run. */
  private first: Promise<boolean> | null = null
  private answer: string | undefined
  private decided = false
  private branch: BranchSniffer | null = null
  private aborted = false

  constructor() {
    // Loading starts with the upload, while its first bytes arrive.
    loadDetection().catch(() => {})
  }

  /** Feeds one chunk; resolves when the sniffer can take more (or no longer needs any). */
  push(chunk: Uint8Array): Promise<void> | undefined {
    if (this.decided || this.aborted) return undefined
    if (this.branch) return this.branch.push(chunk)
    this.held.push(chunk)
    this.heldBytes += chunk.byteLength
    if (!this.first) {
      if (this.heldBytes >= HEAD_BYTES) this.first = this.runFirst(false)
      return undefined
    }
    // The first pass is still running: the chunk is kept in case the second has to run.
    if (this.heldBytes < HELD_BYTES) return undefined
    return this.first.then(() => undefined)
  }

  /** Signals the end of the upload and returns the detected type, if any. */
  async finish(): Promise<string | undefined> {
    if (!this.decided && !this.aborted && !this.branch) {
      // A short upload is all head: one pass over all of it decides.
      this.first ??= this.runFirst(true)
      await this.first
    }
    if (this.branch) return this.branch.finish()
    return this.answer
  }

  /** Whether the detector had to run a second time, over the whole upload (for tests). */
  get reread(): boolean {
    return this.branch !== null
  }

  abort(): void {
    this.aborted = true
    this.held = []
    this.branch?.abort()
  }

  private async runFirst(complete: boolean): Promise<boolean> {
    const head = this.held.length === 1 ? (this.held[0] as Uint8Array) : Buffer.concat(this.held, this.heldBytes)
    let tokenizer: HeadTokenizer | undefined
    const answer = await detect((parser, d) => parser.fromTokenizer((tokenizer = new d.HeadTokenizer(head, complete))))
    if (this.aborted) return true
    if (tokenizer && !tokenizer.wentPast) {
      this.answer = answer
      this.decided = true
      this.held = []
      return true
    }
    // The detector needs more than the head: run it again over the whole upload, from its start.
    const branch = new BranchSniffer()
    this.branch = branch
    const held = this.held
    this.held = []
    for (const chunk of held) branch.push(chunk)
    return false
  }
}

/** Sniffs a whole buffer (for tests and for bytes already in memory). */
export async function sniffBytes(bytes: Uint8Array): Promise<string | undefined> {
  const sniffer = new MimeSniffer()
  await sniffer.push(bytes)
  return sniffer.finish()
}

/**
 * The blob's recorded type: the sniffed one, else the request's Content-Type without its
 * parameters, else `application/octet-stream`.
 */
export function chooseMimeType(sniffed: string | undefined, contentType: string | undefined | null): string {
  if (sniffed) return sniffed
  const declared = contentType?.split(';')[0]?.trim()
  return declared ? declared : DEFAULT_MIME
}
