// MIME sniffing of uploads by magic bytes, as the official PDS does: it runs `file-type` over the
// upload stream and keeps the detected type, else the request's Content-Type. Hearth uses
// file-type 21, the last major that runs on Node 20; the official 0.5.x uses 22 (same detectors
// and type names, Node >= 22 only), the official 0.4.x used 16.
//
// The detector reads a live branch of the upload (not a fixed-size head), so a detector that
// needs to look further in (an ID3 tag before an MP3 frame, PNG chunks before IDAT) sees exactly
// what the official's stream tokenizer sees. It stops being fed as soon as it has an answer.
import { PassThrough } from 'node:stream'

// Loaded with the first upload: file-type and its detectors are several MB of resident memory
// that a server which only serves reads never needs. The branch buffers meanwhile.
let fileType: Promise<typeof import('file-type')> | null = null

const DEFAULT_MIME = 'application/octet-stream'

// file-type bounds its scans of unknown-size streams at 16 MiB (ID3 tags, PNG chunks); past this
// the detector is told the input ended, so a detector can never hold an upload back for long.
const MAX_SNIFF_BYTES = 20 * 1024 * 1024

export class MimeSniffer {
  private readonly branch = new PassThrough()
  private settled = false
  private fed = 0
  readonly result: Promise<string | undefined>

  constructor() {
    // The branch is destroyed by the parser once it is done; later writes are skipped, but an
    // error event on a destroyed branch must not become an uncaught exception.
    this.branch.on('error', () => {})
    fileType ??= import('file-type')
    this.result = fileType
      .then(({ FileTypeParser }) => new FileTypeParser().fromStream(this.branch))
      .then(
        (type) => type?.mime,
        () => undefined, // a detector that chokes on malformed input means "unknown", as upstream
      )
      .finally(() => {
        this.settled = true
        this.branch.destroy()
      })
  }

  /** Feeds one chunk; resolves when the detector can take more (or no longer needs any). */
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

  /** Signals the end of the upload and returns the detected type, if any. */
  finish(): Promise<string | undefined> {
    if (!this.settled && !this.branch.destroyed && !this.branch.writableEnded) this.branch.end()
    return this.result
  }

  abort(): void {
    this.branch.destroy()
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
