// The data directory remembers which service it was created for: `hearth-service.json` holds the
// hostname and the public did:key of the PLC rotation key, written on the first start. Starting
// on it with another hostname or rotation key would serve every account under a name their DID
// documents do not point to, or leave their DIDs unupdatable, while looking healthy; so
// `hearth serve` refuses, and says what differs and how to proceed on purpose.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ServerConfig } from '../config/index.ts'
import { Secp256k1Keypair } from '../repo/crypto/index.ts'

export const SERVICE_FILE_NAME = 'hearth-service.json'

interface Recorded {
  hostname: string
  plcRotationKey: string
}

/** Throws with a message naming what differs; records the service on a directory's first start. */
export function checkDataIdentity(config: ServerConfig): void {
  const file = path.join(config.db.dataDirectory, SERVICE_FILE_NAME)
  const current: Recorded = {
    hostname: config.service.hostname,
    plcRotationKey: Secp256k1Keypair.import(config.secrets.plcRotationKeyK256PrivateKeyHex).did(),
  }
  if (!existsSync(file)) {
    mkdirSync(config.db.dataDirectory, { recursive: true, mode: 0o700 })
    writeFileSync(file, `${JSON.stringify(current, null, 2)}\n`, { mode: 0o600 })
    return
  }
  let recorded: Partial<Recorded>
  try {
    recorded = JSON.parse(readFileSync(file, 'utf8')) as Partial<Recorded>
  } catch {
    throw new Error(`${file} is not readable JSON; fix or remove it`)
  }
  const problems: string[] = []
  if (recorded.hostname !== undefined && recorded.hostname !== current.hostname) {
    problems.push(`it was created for PDS_HOSTNAME=${recorded.hostname}, and this start has PDS_HOSTNAME=${current.hostname}`)
  }
  if (recorded.plcRotationKey !== undefined && recorded.plcRotationKey !== current.plcRotationKey) {
    problems.push(
      `it was created with another PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX (public key ${recorded.plcRotationKey}, now ${current.plcRotationKey})`,
    )
  }
  if (problems.length > 0) {
    throw new Error(
      `refusing to start on ${config.db.dataDirectory}: ${problems.join('; ')}. ` +
        'Its accounts\' DIDs name the original service, so they would not resolve to this one. ' +
        `Use the original settings (an existing pds.env / .env), or, to move this PDS deliberately, delete ${file}.`,
    )
  }
}
