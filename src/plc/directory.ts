// The embedded PLC directory's logic: accepting operations and answering for DIDs. Whether an
// operation may follow a DID's history (signature by a rotation key of the operation it builds
// on, `prev` pointing into the log, a recovery key's right to nullify within 72 hours, the
// genesis hash matching the DID) is decided by @did-plc/lib's `assureValidNextOp`, exactly as the
// reference server decides it; the errors it raises become 400s, as there.
import type { DidDocument } from '../identity/did-doc.ts'
import { DidNotFoundError, PlcRequestError } from '../identity/errors.ts'
import type { PlcDirectory } from '../identity/plc-client.ts'
import { formatPlcDidDocument } from '../identity/plc-document.ts'
import {
  isPlcLibError,
  opCid,
  plc,
  toLibCid,
  type PlcAnyOp,
  type PlcAuditEntry,
  type PlcDocumentData,
  type PlcOperation,
  type PlcTombstone,
} from '../identity/plc-lib.ts'
import { assertValidIncomingOp, PlcServerError } from './constraints.ts'
import { PlcStore, PlcStoreConflictError } from './store.ts'

export { PlcServerError } from './constraints.ts'

export class LocalPlcDirectory implements PlcDirectory {
  readonly #store: PlcStore
  /** Per-DID queue: validation is async (the library's), so writes to one DID take turns. */
  readonly #queues = new Map<string, Promise<unknown>>()

  constructor(dbPath: string) {
    this.#store = new PlcStore(dbPath)
  }

  // --- reads, synchronous, throwing PlcServerError as the HTTP layer answers them ---

  lastOp(did: string): PlcAnyOp {
    const last = this.#store.lastOpForDid(did)
    if (!last) throw new PlcServerError(404, `DID not registered: ${did}`)
    return last.operation
  }

  data(did: string): PlcDocumentData {
    const data = plc().opToData(did, this.lastOp(did))
    if (data === null) throw new PlcServerError(404, `DID not available: ${did}`)
    return data
  }

  document(did: string): DidDocument {
    return formatPlcDidDocument(this.data(did))
  }

  log(did: string): PlcAnyOp[] {
    const ops = this.#store.opsForDid(did)
    if (ops.length === 0) throw new PlcServerError(404, `DID not registered: ${did}`)
    return ops.map((o) => o.operation)
  }

  auditLog(did: string): PlcAuditEntry[] {
    const ops = this.#store.opsForDid(did, true)
    if (ops.length === 0) throw new PlcServerError(404, `DID not registered: ${did}`)
    return ops
  }

  exportOps(count: number, after?: string): PlcAuditEntry[] {
    return this.#store.exportOps(count, after)
  }

  // --- the write ---

  /** Validates and appends an operation; throws PlcServerError (400 invalid, 409 conflict). */
  submit(did: string, op: unknown): Promise<void> {
    try {
      assertValidIncomingOp(op)
    } catch (err) {
      return Promise.reject(err)
    }
    const prior = this.#queues.get(did) ?? Promise.resolve()
    const run = prior.then(
      () => this.#submit(did, op),
      () => this.#submit(did, op),
    )
    this.#queues.set(did, run)
    const cleanup = () => {
      if (this.#queues.get(did) === run) this.#queues.delete(did)
    }
    run.then(cleanup, cleanup)
    return run
  }

  async #submit(did: string, op: PlcOperation | PlcTombstone): Promise<void> {
    const current = this.#store.opsForDid(did)
    const indexed = current.map((o) => ({
      did: o.did,
      operation: o.operation,
      cid: toLibCid(o.cid),
      nullified: o.nullified,
      createdAt: new Date(o.createdAt),
    }))
    let nullified: string[]
    try {
      const result = await plc().assureValidNextOp(did, indexed, op)
      nullified = result.nullified.map((c) => c.toString())
    } catch (err) {
      if (isPlcLibError(err)) throw new PlcServerError(400, err.message)
      throw err
    }
    const expectedLast = current.at(-1)?.cid ?? null
    try {
      this.#store.append(did, op, opCid(op), new Date().toISOString(), expectedLast, nullified)
    } catch (err) {
      if (err instanceof PlcStoreConflictError) throw new PlcServerError(409, err.message)
      throw err
    }
  }

  // --- the PlcDirectory interface, for in-process use with PlcClient's error semantics ---

  async getDocument(did: string): Promise<DidDocument> {
    return asClientErrors(did, () => this.document(did))
  }

  async getDocumentData(did: string): Promise<PlcDocumentData> {
    return asClientErrors(did, () => this.data(did))
  }

  async getOperationLog(did: string): Promise<PlcAnyOp[]> {
    return asClientErrors(did, () => this.log(did))
  }

  async getAuditLog(did: string): Promise<PlcAuditEntry[]> {
    return asClientErrors(did, () => this.auditLog(did))
  }

  async getLastOp(did: string): Promise<PlcAnyOp> {
    return asClientErrors(did, () => this.lastOp(did))
  }

  async sendOperation(did: string, op: PlcOperation | PlcTombstone): Promise<void> {
    try {
      await this.submit(did, op)
    } catch (err) {
      throw toClientError(did, err)
    }
  }

  close(): void {
    this.#store.close()
  }
}

function toClientError(did: string, err: unknown): unknown {
  if (!(err instanceof PlcServerError)) return err
  if (err.status === 404) return new DidNotFoundError(did, err.message)
  return new PlcRequestError(err.status, err.message)
}

function asClientErrors<T>(did: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw toClientError(did, err)
  }
}
