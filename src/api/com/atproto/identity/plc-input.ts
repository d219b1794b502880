// The PLC fields a client may hand to signPlcOperation. The lexicon types verificationMethods
// and services as `unknown`; the official PDS passes them through unchecked and lets a malformed
// operation fail later at the directory. Checked here, so the user learns at signing time.
import { invalidRequest } from '../../../../errors.ts'
import type { PlcChanges, PlcService } from '../../../../identity/plc-ops.ts'

export interface PlcFieldsInput {
  rotationKeys?: string[]
  alsoKnownAs?: string[]
  verificationMethods?: unknown
  services?: unknown
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The changes the input asks for; 400 InvalidRequest when a field has the wrong shape. */
export function plcChangesFromInput(input: PlcFieldsInput): PlcChanges {
  const changes: PlcChanges = {}
  if (input.rotationKeys !== undefined) changes.rotationKeys = input.rotationKeys
  if (input.alsoKnownAs !== undefined) changes.alsoKnownAs = input.alsoKnownAs
  if (input.verificationMethods !== undefined) {
    const vms = input.verificationMethods
    if (!isRecord(vms) || !Object.values(vms).every((v) => typeof v === 'string')) {
      throw invalidRequest('verificationMethods must map ids to did:key strings')
    }
    changes.verificationMethods = vms as Record<string, string>
  }
  if (input.services !== undefined) {
    const services = input.services
    const valid =
      isRecord(services) &&
      Object.values(services).every((v) => isRecord(v) && typeof v.type === 'string' && typeof v.endpoint === 'string')
    if (!valid) throw invalidRequest('services must map ids to { type, endpoint } strings')
    changes.services = Object.fromEntries(
      Object.entries(services as Record<string, PlcService>).map(([id, v]) => [id, { type: v.type, endpoint: v.endpoint }]),
    )
  }
  return changes
}
