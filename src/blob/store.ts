// What every blob store offers, on local disk (disk-store.ts) or in an S3-compatible bucket
// (s3-store.ts), both in the official PDS's layout. The code above (src/actions/, the handlers)
// sees only this interface, so everything that touches blobs works the same on either.
import { randomBytes } from 'node:crypto'
import { finished, Readable } from 'node:stream'
import { toBase32 } from '@atcute/multibase'
import type { Cid } from '../repo/cid.ts'
import { isValidDid } from '../repo/syntax.ts'
import { XrpcError } from '../errors.ts'

export class BlobNotFoundError extends Error {
  override name = 'BlobNotFoundError'
  constructor(message = 'Blob not found') {
    super(message)
  }
}

/**
 * The upload exceeded its limit. As the official PDS (xrpc-server's blob limit): 413
 * `PayloadTooLarge`, "request entity too large", here with the limit named.
 */
export class BlobTooLargeError extends XrpcError {
  constructor(readonly maxSize: number) {
    super(413, 'PayloadTooLarge', `request entity too large: the limit is ${maxSize} bytes`)
  }
}

/**
 * The object store could not be used (unreachable, credentials refused, bucket missing, or an
 * error answer). An XRPC error of its own so a client gets a clear 5xx while the store is down;
 * the cause (never a secret) is kept for the log.
 */
export class BlobStoreUnavailableError extends XrpcError {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(503, 'BlobStoreUnavailable', 'The blob store is unavailable, please try again later.')
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/** An upload to the object store took longer than its timeout: 504, as the official. */
export class BlobUploadTimeoutError extends XrpcError {
  constructor(options?: { cause?: unknown }) {
    super(504, 'UpstreamTimeout', 'Upload timed out, please try again.')
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

export interface PutTempOptions {
  /** Largest accepted size in bytes (PDS_BLOB_UPLOAD_LIMIT); more is a BlobTooLargeError. */
  maxSize?: number
}

export interface TempBlob {
  /** Name of the temp object, kept in `blob.tempKey` until the blob is made permanent. */
  key: string
  /** CIDv1, raw codec, sha-256 of the bytes. */
  cid: Cid
  size: number
  /** Type detected from magic bytes; undefined when unknown (fall back to Content-Type). */
  sniffedMime: string | undefined
}

export interface FileEntry {
  /** The object's name within its account's folder: a temp key, or a CID string. */
  name: string
  size: number
  mtimeMs: number
}

/** A blob's bytes for one response: whole, in a buffer to give back once sent, or a stream. */
export type BlobBody = { bytes: Uint8Array; release: () => void } | { stream: Readable }

export interface BlobStore {
  readonly kind: 'disk' | 's3'
  /**
   * Runs `fn` once every earlier call for the same account has settled, in call order. The
   * place in line is taken synchronously, when serialize is called: call it in the same tick as
   * the database change whose blob work `fn` does, so that work runs in the order of the
   * decisions (see actions/blob-apply.ts). Calling serialize for the same account from inside
   * `fn` and awaiting it deadlocks.
   */
  serialize<T>(did: string, fn: () => Promise<T>): Promise<T>
  /**
   * Streams an upload to a new temporary object, computing its CID, size and type on the way,
   * with the size limit enforced as the bytes arrive. On any failure nothing is left behind.
   * The source is not destroyed on failure: the caller owns it.
   */
  putTemp(did: string, source: AsyncIterable<Uint8Array> | Readable, opts?: PutTempOptions): Promise<TempBlob>
  /**
   * Moves a temporary upload to its permanent place. Idempotent: if the permanent object
   * already exists, the temporary one is just removed. BlobNotFoundError when neither exists.
   */
  makePermanent(did: string, key: string, cid: Cid | string): Promise<void>
  /** Writes bytes straight to their permanent place (imports, tests); the CID must match them. */
  putPermanent(did: string, cid: Cid, bytes: Uint8Array): Promise<void>
  hasStored(did: string, cid: Cid | string): Promise<boolean>
  hasTemp(did: string, key: string): Promise<boolean>
  /** A read stream of a permanent blob; BlobNotFoundError if absent (or quarantined). */
  getStream(did: string, cid: Cid | string): Promise<Readable>
  /**
   * A permanent blob's bytes for one response (getBlob): the disk store reads a small blob whole
   * into a buffer it reuses, which `release` gives back once the response is done with them;
   * otherwise a stream, as getStream. BlobNotFoundError if absent (or quarantined).
   */
  getForSend(did: string, cid: Cid | string): Promise<BlobBody>
  getBytes(did: string, cid: Cid | string): Promise<Uint8Array>
  /** Size of a permanent blob, or undefined if absent. */
  storedSize(did: string, cid: Cid | string): Promise<number | undefined>
  delete(did: string, cid: Cid | string): Promise<void>
  deleteTemp(did: string, key: string): Promise<void>
  /** Deletes every given blob, even if some fail; then throws an AggregateError of the failures. */
  deleteMany(did: string, cids: Iterable<Cid | string>): Promise<void>
  /** Moves a permanent blob aside, where reads no longer find it. BlobNotFoundError if absent. */
  quarantine(did: string, cid: Cid | string): Promise<void>
  unquarantine(did: string, cid: Cid | string): Promise<void>
  isQuarantined(did: string, cid: Cid | string): Promise<boolean>
  /** Removes every object of an account: permanent, temporary and quarantined. */
  deleteAll(did: string): Promise<void>
  /** Temporary objects of an account, with their ages, for garbage collection. */
  listTemp(did: string): Promise<FileEntry[]>
  /** Objects in an account's permanent folder (CIDs, and any staging leftovers of a crash). */
  listStored(did: string): Promise<FileEntry[]>
  /** Removes an object from an account's permanent folder by name, for garbage collection. */
  deleteStoredFile(did: string, name: string): Promise<void>
  /** The accounts with permanent or quarantined blobs here (for copying a store whole). */
  listAccounts(): Promise<string[]>
  /** Objects in an account's quarantine folder. */
  listQuarantined(did: string): Promise<FileEntry[]>
  /** The bytes of a quarantined blob; BlobNotFoundError if absent. */
  getQuarantinedBytes(did: string, cid: Cid | string): Promise<Uint8Array>
  /** Writes bytes straight into quarantine (copying a store); the CID must match them. */
  putQuarantined(did: string, cid: Cid, bytes: Uint8Array): Promise<void>
  /** Checks the store can be read and written; throws an error naming what is wrong. */
  check(): Promise<void>
  close(): void
}

/** Name prefix of the files putPermanent and cross-device moves write before renaming (disk). */
export const STAGING_PREFIX = '.staging-'

/** The per-account queues behind BlobStore.serialize. */
export class AccountQueues {
  private readonly queues = new Map<string, Promise<void>>()

  run<T>(did: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(did) ?? Promise.resolve()
    const run = prev.then(fn)
    const tail = run.then(noop, noop)
    this.queues.set(did, tail)
    void tail.then(() => {
      if (this.queues.get(did) === tail) this.queues.delete(did)
    })
    return run
  }
}

export function noop(): void {}

export function genKey(): string {
  // As the official: 32 random bytes in lower-case base32 (52 characters).
  return toBase32(randomBytes(32))
}

const KEY_RE = /^[A-Za-z0-9_-]{1,128}$/

// Every path segment comes from a DID, a CID or a key; none may climb out of its folder.
export function checkDid(did: string): string {
  if (!isValidDid(did)) throw new TypeError('invalid DID')
  return did
}

export function checkKey(key: string): string {
  if (!KEY_RE.test(key)) throw new TypeError('invalid blob temp key')
  return key
}

export function cidName(cid: Cid | string): string {
  const s = typeof cid === 'string' ? cid : cid.$link
  if (!/^[a-z2-7]+$/.test(s.slice(1)) || s[0] !== 'b') throw new TypeError('invalid blob CID')
  return s
}

export function checkFileName(name: string): string {
  if (name.includes('/') || name.includes('\\') || name === '.' || name === '..' || name.length === 0) {
    throw new Error('not a file name')
  }
  return name
}

/**
 * Hands every chunk of `source` to `take`, in order; a promise `take` returns holds the source
 * back until it settles (a write in flight, a sniffer's back-pressure). Resolves once the source
 * has ended and the last hold has settled; rejects with the source's error, a premature close, or
 * the first error `take` throws or a hold rejects with. On failure the source is left paused, not
 * destroyed: the caller owns it (an HTTP body may need draining after a 413).
 *
 * A Readable is read through its `data` events rather than an async iterator, which costs a
 * promise and a turn of the microtask queue per chunk ("uploadBlob: the type sniffed from the head"
 * in docs/BENCHMARKS.md).
 */
export async function readChunks(source: AsyncIterable<Uint8Array> | Readable, take: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void> {
  if (!(source instanceof Readable)) {
    for await (const chunk of source) {
      const hold = take(chunk)
      if (hold) await hold
    }
    return
  }
  return new Promise<void>((resolve, reject) => {
    let holds = 0
    let ended = false
    let done = false
    const stop = (err?: unknown) => {
      if (done) return
      done = true
      source.off('data', onData)
      stopWatching()
      if (err === undefined) return resolve()
      source.pause()
      reject(err)
    }
    const release = () => {
      if (--holds > 0 || done) return
      if (ended) stop()
      else source.resume()
    }
    const onData = (chunk: Uint8Array) => {
      if (done) return
      let hold: Promise<void> | undefined
      try {
        hold = take(chunk)
      } catch (err) {
        return stop(err)
      }
      if (!hold) return
      if (holds++ === 0) source.pause()
      hold.then(release, stop)
    }
    // Node's own end-of-stream watch (readable side only: the source may be a Transform): the end,
    // the stream's error, or a close before the end (ERR_STREAM_PREMATURE_CLOSE), also for a source
    // already in one of those states.
    const stopWatching = finished(source, { writable: false }, (err) => {
      if (err) return stop(err)
      ended = true
      if (holds === 0) stop()
    })
    source.on('data', onData)
  })
}
