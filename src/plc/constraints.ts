// What plc.directory refuses before it looks at a DID's history: an operation that is not an
// operation or tombstone, is too large, or carries too many or too long fields. Same limits and
// messages as the reference server (did-method-plc's `constraints.ts`), so a client sees the
// same 400 from the embedded directory as from production. The per-DID operation rate limits
// are left out: they guard a shared public service, not a single-operator local one.
import { encodeCbor } from '../repo/cbor.ts'
import { parseDidKey } from '../repo/crypto/index.ts'
import { isOperationOrTombstone } from '../identity/plc-ops.ts'
import type { PlcOperation, PlcTombstone } from '../identity/plc-lib.ts'

export class PlcServerError extends Error {
  override name = 'PlcServerError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const MAX_OP_BYTES = 4000

function isValidDidKey(key: string): boolean {
  try {
    parseDidKey(key)
    return true
  } catch {
    return false
  }
}

export function assertValidIncomingOp(op: unknown): asserts op is PlcOperation | PlcTombstone {
  let size: number
  try {
    size = encodeCbor(op).byteLength
  } catch {
    throw new PlcServerError(400, `Not a valid operation: ${JSON.stringify(op)}`)
  }
  if (size > MAX_OP_BYTES) throw new PlcServerError(400, 'Operation too large')
  if (!isOperationOrTombstone(op)) throw new PlcServerError(400, `Not a valid operation: ${JSON.stringify(op)}`)
  if (op.type === 'plc_tombstone') return
  if (op.alsoKnownAs.length > 10) throw new PlcServerError(400, 'To many alsoKnownAs items (max 10)')
  const seen = new Set<string>()
  for (const aka of op.alsoKnownAs) {
    if (aka.length > 256) throw new PlcServerError(400, `alsoKnownAs field too long (max 256): ${aka}`)
    if (seen.has(aka)) throw new PlcServerError(400, `duplicate alsoKnownAs field: ${aka}`)
    seen.add(aka)
  }
  if (op.rotationKeys.length > 5) throw new PlcServerError(400, 'To many rotationKey items (max 5)')
  for (const key of op.rotationKeys) {
    if (!isValidDidKey(key)) throw new PlcServerError(400, `Invalid rotationKey: ${key}`)
  }
  const services = Object.entries(op.services)
  if (services.length > 10) throw new PlcServerError(400, 'To many service entries (max 10)')
  for (const [id, service] of services) {
    if (id.length > 32) throw new PlcServerError(400, `Service id too long (max 32): ${id}`)
    if (service.type.length > 256) throw new PlcServerError(400, 'Service type too long (max 256)')
    if (service.endpoint.length > 512) throw new PlcServerError(400, 'Service endpoint too long (max 512)')
  }
  for (const [id, key] of Object.entries(op.verificationMethods)) {
    if (id.length > 32) throw new PlcServerError(400, `Verification Method id too long (max 32): ${id}`)
    if (!isValidDidKey(key)) throw new PlcServerError(400, `Invalid verificationMethod key: ${key}`)
  }
}
