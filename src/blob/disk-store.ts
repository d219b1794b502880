// Blob files on local disk, in the official PDS's layout so either server runs on the other's
// data directory:
//   permanent   <location>/<did>/<cid>
//   temporary   <tempLocation>/<did>/<key>         (tempLocation defaults to <location>/tempt)
//   quarantine  <quarantineLocation>/<did>/<cid>   (defaults to <location>/quarantine)
//
// Durability: an upload is fsynced (file and directory) before putTemp returns, since the client
// is told the blob exists once uploadBlob answers. Nothing is ever written in place at a permanent
// path: a temp file is renamed there (atomic), or, across filesystems, copied to a staging name
// beside it, fsynced and renamed. A crash leaves either the whole file or none at that path.
import { createHash } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { type Cid, bytesMatchCid, cidForRawDigest } from '../repo/cid.ts'
import { isValidDid } from '../repo/syntax.ts'
import { ReadBuffers } from './read-buffers.ts'
import { MimeSniffer } from './sniff.ts'
import {
  AccountQueues,
  type BlobBody,
  BlobNotFoundError,
  type BlobStore,
  BlobTooLargeError,
  type FileEntry,
  type PutTempOptions,
  STAGING_PREFIX,
  type TempBlob,
  checkDid,
  checkFileName,
  checkKey,
  cidName,
  genKey,
  noop,
  readChunks,
} from './store.ts'

export {
  BlobNotFoundError,
  BlobTooLargeError,
  type FileEntry,
  type PutTempOptions,
  STAGING_PREFIX,
  type TempBlob,
} from './store.ts'

export interface DiskBlobStoreOptions {
  /** PDS_BLOBSTORE_DISK_LOCATION */
  location: string
  /** PDS_BLOBSTORE_DISK_TMP_LOCATION; default `<location>/tempt` (sic, as the official). */
  tempLocation?: string
  /** Default `<location>/quarantine`. */
  quarantineLocation?: string
}

// Bytes gathered before each write: an HTTP body arrives in chunks of a few KiB, and one writev
// per chunk would cost a thread-pool round trip each.
const WRITE_BATCH_BYTES = 256 * 1024
const DELETE_CONCURRENCY = 32

export class DiskBlobStore implements BlobStore {
  readonly kind = 'disk'
  readonly location: string
  readonly tempLocation: string
  readonly quarantineLocation: string
  private readonly queues = new AccountQueues()
  /** Reused by getForSend for small blobs. */
  private readonly readBuffers = new ReadBuffers()

  constructor(opts: DiskBlobStoreOptions) {
    this.location = path.resolve(opts.location)
    this.tempLocation = path.resolve(opts.tempLocation ?? path.join(this.location, 'tempt'))
    this.quarantineLocation = path.resolve(opts.quarantineLocation ?? path.join(this.location, 'quarantine'))
  }

  serialize<T>(did: string, fn: () => Promise<T>): Promise<T> {
    return this.queues.run(did, fn)
  }

  /** The blob folder must be writable: a folder made and removed there proves it. */
  async check(): Promise<void> {
    // Made before any upload, so it is made as the data folder is: for this user alone.
    await fsp.mkdir(this.location, { recursive: true, mode: 0o700 })
    const probe = await fsp.mkdtemp(path.join(this.location, STAGING_PREFIX))
    await fsp.rm(probe, { recursive: true, force: true })
  }

  close(): void {}

  storedPath(did: string, cid: Cid | string): string {
    return path.join(this.storedDir(did), cidName(cid))
  }

  tempPath(did: string, key: string): string {
    return path.join(this.tempDir(did), checkKey(key))
  }

  quarantinePath(did: string, cid: Cid | string): string {
    return path.join(this.quarantineDir(did), cidName(cid))
  }

  /**
   * Streams an upload to a new temp file, computing its CID, size and type on the way, with the
   * size limit enforced as the bytes arrive. On any failure the temp file is removed. The source
   * is not destroyed on failure: the caller owns it (an HTTP request body may need draining, or
   * its connection closing, after a 413).
   */
  async putTemp(did: string, source: AsyncIterable<Uint8Array> | Readable, opts: PutTempOptions = {}): Promise<TempBlob> {
    const maxSize = opts.maxSize ?? Number.POSITIVE_INFINITY
    const dir = this.tempDir(did)
    const key = genKey()
    const file = path.join(dir, key)
    const handle = await createFile(dir, file)
    // The folder's entry for the file exists from here, so its sync runs while the body is still
    // arriving rather than after the file's own: the answer waits for both, in either order.
    const folderSynced = fsyncDir(dir)
    folderSynced.catch(noop)
    const hash = createHash('sha256')
    const sniffer = new MimeSniffer()
    let size = 0
    let ok = false
    let closeError: unknown
    // One batch at a time is written on the pool while the next one is read from the body.
    let writing = null as Promise<void> | null
    try {
      let batch: Uint8Array[] = []
      let batchBytes = 0
      await readChunks(source, (chunk) => {
        size += chunk.byteLength
        if (size > maxSize) throw new BlobTooLargeError(maxSize)
        hash.update(chunk)
        const sniffing = sniffer.push(chunk)
        batch.push(chunk)
        batchBytes += chunk.byteLength
        if (batchBytes < WRITE_BATCH_BYTES) return sniffing
        const full = batch
        batch = []
        batchBytes = 0
        const start = () => {
          writing = writeFully(handle, full)
          writing.catch(noop)
        }
        // A batch's write starts once the one before it is done; the body is held back meanwhile,
        // as it is while the sniffer catches up.
        const held = writing ? writing.then(start) : start()
        if (!held) return sniffing
        return sniffing ? Promise.all([sniffing, held]).then(noop) : held
      })
      if (writing) await writing
      writing = null
      if (batch.length > 0) await writeFully(handle, batch)
      await handle.sync()
      ok = true
    } finally {
      // A write still in flight (the body failed or was too large) ends before the file closes.
      if (writing) await writing.catch(noop)
      await handle.close().catch((err) => {
        closeError = err
        ok = false
      })
      if (!ok) {
        sniffer.abort()
        await folderSynced.catch(noop)
        await fsp.rm(file, { force: true })
      }
    }
    if (closeError !== undefined) throw closeError
    await folderSynced
    const sniffedMime = await sniffer.finish()
    return { key, cid: cidForRawDigest(hash.digest()), size, sniffedMime }
  }

  /**
   * Moves a temp upload to its permanent path. Idempotent: if the permanent file already exists
   * (an earlier call, or the same bytes uploaded again), the temp file is just removed.
   * BlobNotFoundError when neither exists.
   */
  async makePermanent(did: string, key: string, cid: Cid | string): Promise<void> {
    const src = this.tempPath(did, key)
    const dir = this.storedDir(did)
    const dst = path.join(dir, cidName(cid))
    await fsp.mkdir(dir, { recursive: true })
    if (await exists(dst)) {
      await fsp.rm(src, { force: true })
      return
    }
    try {
      await fsp.rename(src, dst)
    } catch (err) {
      const code = errCode(err)
      if (code === 'ENOENT') {
        if (await exists(dst)) return // a concurrent call got there first
        throw new BlobNotFoundError(`temp blob not found: ${key}`)
      }
      if (code !== 'EXDEV') throw err
      await copyDurably(src, dst)
      await fsp.rm(src, { force: true })
    }
    await fsyncDir(dir)
  }

  /** Writes bytes straight to their permanent path (imports, tests); the CID must match them. */
  async putPermanent(did: string, cid: Cid, bytes: Uint8Array): Promise<void> {
    await writeBlobDurably(this.storedDir(did), cid, bytes)
  }

  async hasStored(did: string, cid: Cid | string): Promise<boolean> {
    return exists(this.storedPath(did, cid))
  }

  async hasTemp(did: string, key: string): Promise<boolean> {
    return exists(this.tempPath(did, key))
  }

  /** A read stream of a permanent blob; BlobNotFoundError if absent (or quarantined). */
  async getStream(did: string, cid: Cid | string): Promise<Readable> {
    return readStream(await this.openStored(did, cid))
  }

  /**
   * A blob of at most a read buffer's size is read whole into one of the store's reused buffers
   * (read-buffers.ts says why), a larger one, or any while every buffer is out, is streamed.
   */
  async getForSend(did: string, cid: Cid | string): Promise<BlobBody> {
    const handle = await this.openStored(did, cid)
    let buffer: Buffer | null = null
    try {
      const { size } = await handle.stat()
      buffer = size <= this.readBuffers.bytes ? this.readBuffers.take() : null
      if (buffer === null) return { stream: readStream(handle) }
      let filled = 0
      while (filled < size) {
        const { bytesRead } = await handle.read(buffer, filled, size - filled, filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      await handle.close()
      const taken = buffer
      buffer = null
      let released = false
      const release = () => {
        if (released) return
        released = true
        this.readBuffers.give(taken)
      }
      return { bytes: taken.subarray(0, filled), release }
    } catch (err) {
      if (buffer) this.readBuffers.give(buffer)
      await handle.close().catch(noop)
      throw err
    }
  }

  /** A permanent blob's file, open for reading; BlobNotFoundError if absent (or quarantined). */
  private async openStored(did: string, cid: Cid | string): Promise<fsp.FileHandle> {
    // Opening first (rather than checking, then opening) leaves no window for a delete between.
    try {
      return await fsp.open(this.storedPath(did, cid), 'r')
    } catch (err) {
      throw translate(err)
    }
  }

  async getBytes(did: string, cid: Cid | string): Promise<Uint8Array> {
    try {
      return await fsp.readFile(this.storedPath(did, cid))
    } catch (err) {
      throw translate(err)
    }
  }

  /** Size of a permanent blob file, or undefined if absent. */
  async storedSize(did: string, cid: Cid | string): Promise<number | undefined> {
    try {
      return (await fsp.stat(this.storedPath(did, cid))).size
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw err
    }
  }

  async delete(did: string, cid: Cid | string): Promise<void> {
    await fsp.rm(this.storedPath(did, cid), { force: true })
  }

  async deleteTemp(did: string, key: string): Promise<void> {
    await fsp.rm(this.tempPath(did, key), { force: true })
  }

  /** Deletes every given blob, even if some fail; then throws an AggregateError of the failures. */
  async deleteMany(did: string, cids: Iterable<Cid | string>): Promise<void> {
    const paths = Array.from(cids, (cid) => this.storedPath(did, cid))
    await removeAll(paths)
  }

  /** Moves a permanent blob aside, where reads no longer find it. */
  async quarantine(did: string, cid: Cid | string): Promise<void> {
    const dir = this.quarantineDir(did)
    await fsp.mkdir(dir, { recursive: true })
    try {
      await fsp.rename(this.storedPath(did, cid), path.join(dir, cidName(cid)))
    } catch (err) {
      throw translate(err)
    }
    await fsyncDir(dir)
  }

  async unquarantine(did: string, cid: Cid | string): Promise<void> {
    const dir = this.storedDir(did)
    await fsp.mkdir(dir, { recursive: true })
    try {
      await fsp.rename(this.quarantinePath(did, cid), path.join(dir, cidName(cid)))
    } catch (err) {
      throw translate(err)
    }
    await fsyncDir(dir)
  }

  async isQuarantined(did: string, cid: Cid | string): Promise<boolean> {
    return exists(this.quarantinePath(did, cid))
  }

  /** Removes every file of an account: permanent, temporary and quarantined. */
  async deleteAll(did: string): Promise<void> {
    await fsp.rm(this.storedDir(did), { recursive: true, force: true })
    await fsp.rm(this.tempDir(did), { recursive: true, force: true })
    await fsp.rm(this.quarantineDir(did), { recursive: true, force: true })
  }

  /** Temp files of an account, with their ages (mtime), for garbage collection. */
  async listTemp(did: string): Promise<FileEntry[]> {
    return listFiles(this.tempDir(did))
  }

  /** Files in an account's permanent folder (CIDs, and any staging leftovers of a crash). */
  async listStored(did: string): Promise<FileEntry[]> {
    return listFiles(this.storedDir(did))
  }

  async listAccounts(): Promise<string[]> {
    const dids = new Set<string>()
    for (const dir of [this.location, this.quarantineLocation]) {
      let names: string[]
      try {
        names = await fsp.readdir(dir)
      } catch (err) {
        if (errCode(err) === 'ENOENT') continue
        throw err
      }
      // The temp and quarantine folders may sit inside the blob folder: only DIDs are accounts.
      for (const name of names) if (isValidDid(name)) dids.add(name)
    }
    return [...dids].sort()
  }

  async listQuarantined(did: string): Promise<FileEntry[]> {
    return listFiles(this.quarantineDir(did))
  }

  async getQuarantinedBytes(did: string, cid: Cid | string): Promise<Uint8Array> {
    try {
      return await fsp.readFile(this.quarantinePath(did, cid))
    } catch (err) {
      throw translate(err)
    }
  }

  async putQuarantined(did: string, cid: Cid, bytes: Uint8Array): Promise<void> {
    await writeBlobDurably(this.quarantineDir(did), cid, bytes)
  }

  /** Removes a file from an account's permanent folder by name, for garbage collection. */
  async deleteStoredFile(did: string, name: string): Promise<void> {
    await fsp.rm(path.join(this.storedDir(did), checkFileName(name)), { force: true })
  }

  private storedDir(did: string): string {
    return path.join(this.location, checkDid(did))
  }

  private tempDir(did: string): string {
    return path.join(this.tempLocation, checkDid(did))
  }

  private quarantineDir(did: string): string {
    return path.join(this.quarantineLocation, checkDid(did))
  }
}

function stagingName(): string {
  return `${STAGING_PREFIX}${genKey()}`
}

async function writeFully(handle: fsp.FileHandle, chunks: Uint8Array[]): Promise<void> {
  let total = 0
  for (const c of chunks) total += c.byteLength
  let { bytesWritten } = await handle.writev(chunks)
  // writev may stop short; continue from where it did.
  while (bytesWritten < total) {
    let skip = bytesWritten
    const rest: Uint8Array[] = []
    for (const c of chunks) {
      if (skip >= c.byteLength) {
        skip -= c.byteLength
        continue
      }
      rest.push(skip > 0 ? c.subarray(skip) : c)
      skip = 0
    }
    const more = await handle.writev(rest)
    if (more.bytesWritten === 0) throw new Error('short write')
    bytesWritten += more.bytesWritten
  }
}

/** Creates a new file; its folder is made only when missing (the first upload of an account). */
async function createFile(dir: string, file: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, 'wx')
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err
  }
  await fsp.mkdir(dir, { recursive: true })
  return fsp.open(file, 'wx')
}

async function copyDurably(src: string, dst: string): Promise<void> {
  const staging = path.join(path.dirname(dst), stagingName())
  try {
    await fsp.copyFile(src, staging)
    const handle = await fsp.open(staging, 'r+')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fsp.rename(staging, dst)
  } catch (err) {
    await fsp.rm(staging, { force: true })
    throw translate(err)
  }
}

/** fsync a folder so a file created or renamed in it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined
  try {
    handle = await fsp.open(dir, 'r')
    await handle.sync()
  } catch (err) {
    // Some platforms and filesystems cannot fsync a directory; the file itself was synced.
    const code = errCode(err)
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err
  } finally {
    await handle?.close()
  }
}

async function removeAll(paths: string[]): Promise<void> {
  const errors: unknown[] = []
  for (let i = 0; i < paths.length; i += DELETE_CONCURRENCY) {
    const slice = paths.slice(i, i + DELETE_CONCURRENCY)
    await Promise.all(slice.map((p) => fsp.rm(p, { force: true }).catch((err) => errors.push(err))))
  }
  if (errors.length > 0) throw new AggregateError(errors, `could not delete ${errors.length} blob file(s)`)
}

async function listFiles(dir: string): Promise<FileEntry[]> {
  let names: string[]
  try {
    names = await fsp.readdir(dir)
  } catch (err) {
    if (errCode(err) === 'ENOENT') return []
    throw err
  }
  const out: FileEntry[] = []
  for (const name of names) {
    try {
      const st = await fsp.stat(path.join(dir, name))
      if (st.isFile()) out.push({ name, size: st.size, mtimeMs: st.mtimeMs })
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err // removed meanwhile
    }
  }
  return out
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p)
    return true
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false
    throw err
  }
}

/** A stream of an open file, which closes it at the end. */
function readStream(handle: fsp.FileHandle): Readable {
  const stream = handle.createReadStream()
  // Until someone reads it, a read error is kept on the stream (and thrown by that read);
  // a stream nobody ends up reading is no reason to end the process.
  stream.on('error', noop)
  return stream
}

function translate(err: unknown): unknown {
  return errCode(err) === 'ENOENT' ? new BlobNotFoundError() : err
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code
}

/**
 * Writes a blob under its CID name in `dir` as the permanent and quarantine folders keep them:
 * the CID checked against the bytes, a staging file synced, then renamed into place and the
 * folder synced, so a crash leaves either the whole file or none.
 */
async function writeBlobDurably(dir: string, cid: Cid, bytes: Uint8Array): Promise<void> {
  if (!bytesMatchCid(cid, bytes)) throw new Error(`bytes do not hash to ${cid.$link}`)
  await fsp.mkdir(dir, { recursive: true })
  const staging = path.join(dir, stagingName())
  try {
    const handle = await fsp.open(staging, 'wx')
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fsp.rename(staging, path.join(dir, cidName(cid)))
  } catch (err) {
    await fsp.rm(staging, { force: true })
    throw err
  }
  await fsyncDir(dir)
}
