// Request bodies: presence, content type, content-encoding decoders and byte limits, with the
// official router's errors (400 for a missing/unexpected body or a bad content length, 413
// PayloadTooLarge "request entity too large", 415 UnsupportedMediaType for an unknown
// content-encoding). Limits count decoded bytes, so a compressed body cannot smuggle more
// than the limit past the check.
import type { IncomingMessage } from 'node:http'
import { type Readable, Transform, type TransformCallback } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import { XrpcError, invalidRequest } from '../errors.ts'

export type BodyPresence = 'present' | 'empty' | 'missing'

/** As the official router: a transfer-encoding or a non-zero content-length means a body. */
export function bodyPresence(req: IncomingMessage): BodyPresence {
  if (req.headers['transfer-encoding'] !== undefined) return 'present'
  const length = req.headers['content-length']
  if (length === '0') return 'empty'
  if (length !== undefined) return 'present'
  return 'missing'
}

/** The request's content type without parameters, lower-cased; null when absent or unreadable. */
export function requestEncoding(req: IncomingMessage): string | null {
  const header = req.headers['content-type']
  if (!header) return null
  const bare = header.split(';')[0].trim().toLowerCase()
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$/.test(bare) ? bare : null
}

/** The declared content length, null when there is none; 400 when it is not a number. */
export function declaredLength(req: IncomingMessage): number | null {
  const raw = req.headers['content-length']
  if (raw === undefined) return null
  const n = parseInt(raw, 10)
  if (Number.isNaN(n)) throw invalidRequest('invalid content-length')
  return n
}

/** The client went away before its body was read: nobody is left to answer. */
export class RequestAbortedError extends Error {
  override name = 'RequestAbortedError'
  readonly code = 'ECONNRESET'
  constructor() {
    super('request aborted')
  }
}

/** 413, naming the limit: a client (or the operator reading its report) can see what to cut to. */
export const payloadTooLarge = (limit: number): XrpcError =>
  new XrpcError(413, 'PayloadTooLarge', `request entity too large: the limit is ${limit} bytes`)

function decodersFor(header: string | undefined): Transform[] {
  if (!header) return []
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
  // Every coding is checked before any decoder exists, so a refusal leaves no stream behind.
  // A legitimate client applies one coding; a stack of them only multiplies decoder memory.
  if (codings.length > MAX_CODINGS) throw new XrpcError(415, 'UnsupportedMediaType', 'too many content-encodings')
  const makers = codings.map((coding) => DECODERS.get(coding))
  if (makers.some((make) => make === undefined)) throw new XrpcError(415, 'UnsupportedMediaType', 'unsupported content-encoding')
  // Codings are listed in the order they were applied: undo the last one first.
  return makers.reverse().map((make) => (make as () => Transform)())
}

const MAX_CODINGS = 3

const DECODERS = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
])

/** Fails the stream with 413 once more than `limit` bytes went through. */
export class ByteLimit extends Transform {
  private seen = 0

  constructor(private readonly limit: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.limit) callback(payloadTooLarge(this.limit))
    else callback(null, chunk)
  }

  get bytes(): number {
    return this.seen
  }
}

/**
 * The request body, decoded (content-encoding) and limited to `limit` bytes: a declared length
 * over the limit fails at once, a body that grows past it fails the stream with 413.
 *
 * The stages behave as one pipeline from the moment they exist, whether or not anyone reads
 * yet (a handler may await file-system work, or be refused, before it reads): every stage has
 * an error listener, the first failure of any stage fails the returned stream with a client
 * error and tears every stage down, and so does the consumer destroying the returned stream.
 * A failure is kept on the returned stream (`errored`) and thrown by the first read of it.
 *
 * The request itself is never destroyed here (that would kill the socket before the error
 * response is written): on failure it is only unpiped, and the router drains or closes it.
 */
export function limitedBodyStream(req: IncomingMessage, limit: number): ByteLimit {
  const length = declaredLength(req)
  if (length !== null && length > limit) throw payloadTooLarge(limit)
  const out = new ByteLimit(limit)
  const stages: Transform[] = [...decodersFor(req.headers['content-encoding']), out]
  const tearDown = (err?: Error) => {
    // The returned stream first, so that its error is the one its reader sees.
    if (!out.destroyed) out.destroy(err)
    for (const stage of stages) if (!stage.destroyed) stage.destroy()
  }
  for (const stage of stages) stage.on('error', (err) => tearDown(stage === out ? undefined : decodeError(err)))
  for (let i = 0; i < stages.length - 1; i++) stages[i].pipe(stages[i + 1])
  const onAbort = () => {
    if (!req.complete) tearDown(new RequestAbortedError())
  }
  req.on('close', onAbort)
  req.on('error', onAbort)
  out.on('close', () => {
    req.unpipe(stages[0])
    req.off('close', onAbort)
    req.off('error', onAbort)
    tearDown()
  })
  req.pipe(stages[0])
  return out
}

// A corrupt compressed body is the client's fault.
function decodeError(err: unknown): Error {
  if (err instanceof XrpcError) return err
  return invalidRequest(`could not decode the request body: ${(err as Error).message}`)
}

/** Reads the whole body (decoded, at most `limit` bytes). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (req.headers['content-encoding'] === undefined) return readPlainBody(req, limit, asBuffer)
  return readDecodedBody(req, limit)
}

async function readDecodedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const stream = limitedBodyStream(req, limit)
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk)
    total += chunk.length
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total)
}

/**
 * readBody without a content-encoding: the same limits and failures as the stream pipeline
 * (413 at once for a declared length over the limit, 413 once more than `limit` bytes arrived,
 * RequestAbortedError when the client goes away first), read from the request's own events.
 * A JSON body of a few hundred bytes is every write's input, and a Transform, a pipe and an
 * async iterator per request cost more than the rest of its reading. `finish` turns the bytes
 * into the result (a JSON body is parsed there), so that reading and parsing are one promise
 * and one microtask turn, not one per layer; whatever it throws rejects the promise.
 */
function readPlainBody<T>(req: IncomingMessage, limit: number, finish: (body: Buffer) => T): Promise<T> {
  let length: number | null
  try {
    length = declaredLength(req)
  } catch (err) {
    return Promise.reject(err)
  }
  if (length !== null && length > limit) return Promise.reject(payloadTooLarge(limit))
  if (req.destroyed && !req.complete) return Promise.reject(new RequestAbortedError())
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const detach = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('close', onAbort)
      req.off('error', onAbort)
    }
    function onData(chunk: Buffer): void {
      total += chunk.length
      if (total > limit) {
        detach()
        // Left paused, as an unpiped request is: the router drains it or closes the connection.
        req.pause()
        reject(payloadTooLarge(limit))
        return
      }
      chunks.push(chunk)
    }
    function onEnd(): void {
      detach()
      try {
        resolve(finish(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total)))
      } catch (err) {
        reject(err)
      }
    }
    function onAbort(): void {
      if (req.complete) return
      detach()
      reject(new RequestAbortedError())
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('close', onAbort)
    req.on('error', onAbort)
  })
}

/**
 * Reads and parses a JSON body. An empty body is `{}` (as express's body parser reads it);
 * invalid JSON is 400 InvalidRequest with the parser's message.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (req.headers['content-encoding'] === undefined) return readPlainBody(req, limit, parseJsonBody)
  return readDecodedBody(req, limit).then(parseJsonBody)
}

function asBuffer(body: Buffer): Buffer {
  return body
}

function parseJsonBody(buf: Buffer): unknown {
  let text = buf.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch (err) {
    throw invalidRequest((err as Error).message)
  }
}
