// Buffers a disk blob store reads small blobs into whole, for getBlob.
//
// Why: streamed, a 1 MiB blob is sixteen 64 KiB reads, each a hand-off to libuv's thread pool
// and back and a chunk through the stream and the response: ~2.6 ms of CPU per getBlob, a third
// of it those hand-offs. Read whole in one read it costs ~1.8 ms; but a fresh megabyte buffer per
// read counts against V8's external-memory limit and brings a full collection every ~20 reads,
// which costs more than it saves (docs/BENCHMARKS.md, "getBlob from disk"). So a few buffers are
// made once and reused: a reader takes one and gives it back once the response has handed every
// byte to the socket. When all are out (many large reads at once), readers stream as before.

/** Bluesky's largest image is 1,000,000 bytes: a mebibyte holds any image whole. */
export const READ_BUFFER_BYTES = 1024 * 1024
/** At most this many buffers are ever made (4 MiB in all). */
export const READ_BUFFERS_MAX = 4

export class ReadBuffers {
  private readonly idle: Buffer[] = []
  private made = 0

  constructor(
    readonly bytes = READ_BUFFER_BYTES,
    private readonly max = READ_BUFFERS_MAX,
  ) {}

  /** An idle buffer of `bytes`, or null when every one is out. */
  take(): Buffer | null {
    const idle = this.idle.pop()
    if (idle) return idle
    if (this.made >= this.max) return null
    this.made++
    return Buffer.allocUnsafeSlow(this.bytes)
  }

  /** Gives a taken buffer back; the caller must hold no view of it any more. */
  give(buffer: Buffer): void {
    this.idle.push(buffer)
  }
}
