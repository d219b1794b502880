// A client of a PLC directory (https://plc.directory, a local one, or the embedded one under a
// path prefix). Plain fetch: the directory URL is the operator's configuration, not user input,
// so it needs no SSRF guard (and in local mode it is this very server on loopback).
//
// Every request has a deadline (PDS_ID_RESOLVER_TIMEOUT, 3 s by default). An idempotent GET that
// fails for a transient reason (network error, 5xx) is tried once more; a timeout is not, so a
// call never takes much more than its deadline twice. Failures are mapped to three errors a
// handler can act on: DidNotFoundError (404, which the directory also answers for a tombstoned
// DID), PlcRequestError (another 4xx: the operation was refused) and PlcUnavailableError.
import { DEFAULT_ID_RESOLVER_TIMEOUT_MS } from './defaults.ts'
import type { DidDocument } from './did-doc.ts'
import { DidNotFoundError, PlcRequestError, PlcUnavailableError } from './errors.ts'
import type { PlcAnyOp, PlcAuditEntry, PlcDocumentData, PlcOperation, PlcTombstone } from './plc-lib.ts'

/** What a PDS asks of a PLC directory; PlcClient (over HTTP) and the embedded directory both serve it. */
export interface PlcDirectory {
  /** The DID document. Throws DidNotFoundError for an unknown or tombstoned DID. */
  getDocument(did: string): Promise<DidDocument>
  getDocumentData(did: string): Promise<PlcDocumentData>
  /** The operations of the canonical history (nullified ones left out), oldest first. */
  getOperationLog(did: string): Promise<PlcAnyOp[]>
  /** Every operation with its CID, nullified flag and time, oldest first. */
  getAuditLog(did: string): Promise<PlcAuditEntry[]>
  getLastOp(did: string): Promise<PlcAnyOp>
  sendOperation(did: string, op: PlcOperation | PlcTombstone): Promise<void>
}

export interface PlcClientOptions {
  /** The directory's base URL; a path prefix is kept (`http://localhost:2583/plc`). */
  url: string
  timeoutMs?: number
  fetch?: typeof globalThis.fetch
}

const MAX_ERROR_MESSAGE = 500

export class PlcClient implements PlcDirectory {
  readonly url: string
  readonly #timeoutMs: number
  readonly #fetch: typeof globalThis.fetch

  constructor(opts: PlcClientOptions) {
    if (!URL.canParse(opts.url)) throw new TypeError(`invalid PLC directory URL: ${opts.url}`)
    this.url = opts.url.replace(/\/+$/, '')
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_ID_RESOLVER_TIMEOUT_MS
    this.#fetch = opts.fetch ?? globalThis.fetch
  }

  getDocument(did: string): Promise<DidDocument> {
    return this.#getJson(did, '') as Promise<DidDocument>
  }

  getDocumentData(did: string): Promise<PlcDocumentData> {
    return this.#getJson(did, '/data') as Promise<PlcDocumentData>
  }

  getOperationLog(did: string): Promise<PlcAnyOp[]> {
    return this.#getJson(did, '/log') as Promise<PlcAnyOp[]>
  }

  getAuditLog(did: string): Promise<PlcAuditEntry[]> {
    return this.#getJson(did, '/log/audit') as Promise<PlcAuditEntry[]>
  }

  getLastOp(did: string): Promise<PlcAnyOp> {
    return this.#getJson(did, '/log/last') as Promise<PlcAnyOp>
  }

  async sendOperation(did: string, op: PlcOperation | PlcTombstone): Promise<void> {
    const res = await this.#request(did, 'POST', this.#didUrl(did, ''), JSON.stringify(op))
    await res.body?.cancel()
  }

  #didUrl(did: string, suffix: string): string {
    return `${this.url}/${encodeURIComponent(did)}${suffix}`
  }

  async #getJson(did: string, suffix: string): Promise<unknown> {
    const url = this.#didUrl(did, suffix)
    let res: Response
    try {
      res = await this.#request(did, 'GET', url)
    } catch (err) {
      // One more try for what may be transient; a timeout already used the caller's budget.
      if (!(err instanceof PlcUnavailableError) || isTimeout(err.cause)) throw err
      res = await this.#request(did, 'GET', url)
    }
    try {
      return await res.json()
    } catch (err) {
      throw new PlcUnavailableError(`PLC directory sent an unreadable response for ${did}`, res.status, { cause: err })
    }
  }

  async #request(did: string, method: 'GET' | 'POST', url: string, body?: string): Promise<Response> {
    let res: Response
    try {
      res = await this.#fetch(url, {
        method,
        body,
        redirect: 'error',
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (err) {
      const what = isTimeout(err) ? `timed out after ${this.#timeoutMs} ms` : 'could not be reached'
      throw new PlcUnavailableError(`PLC directory ${what}`, undefined, { cause: err })
    }
    if (res.ok) return res
    const message = await errorMessage(res)
    if (res.status === 404) throw new DidNotFoundError(did, message || `DID not registered: ${did}`)
    if (res.status >= 500) throw new PlcUnavailableError(`PLC directory failed (${res.status}): ${message || res.statusText}`, res.status)
    throw new PlcRequestError(res.status, message || `PLC directory refused the request (${res.status})`)
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err.cause instanceof Error && err.cause.name === 'TimeoutError'))
}

/** The directory's `{ message }`, or its text, shortened; '' when there is none. */
async function errorMessage(res: Response): Promise<string> {
  let text: string
  try {
    text = await res.text()
  } catch {
    return ''
  }
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
      text = (parsed as { message: string }).message
    }
  } catch {
    // not JSON: keep the text
  }
  return text.length > MAX_ERROR_MESSAGE ? `${text.slice(0, MAX_ERROR_MESSAGE)}…` : text
}
