// com.atproto.repo.importRepo: replaces the caller's repo with the one in the CAR body (account
// migration, restoring a backup). The body is read and hash-checked before the account is
// touched; the swap itself is one transaction (src/actor/import.ts).
import { historicalSigningKeys, importRepoCar, readImportCar } from '../../../../actor/import.ts'
import type { AccessAuth } from '../../../../xrpc/auth-result.ts'
import { ACCESS_FULL } from '../../../../auth/scopes.ts'
import { finishPendingBlobs } from '../../../../actions/blob-apply.ts'
import { getSigningKey } from '../../../../identity/did-doc.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

export default function importRepo(s: Pick<Services, 'actors' | 'auth' | 'blobs' | 'config' | 'didResolver' | 'logger' | 'plc'>): XrpcMethod<AccessAuth> {
  // As the official: PDS_MAX_REPO_IMPORT_SIZE, else the general body limit (blobUploadLimit).
  const maxSize = s.config.service.maxImportSize ?? s.config.service.blobUploadLimit
  return {
    nsid: 'com.atproto.repo.importRepo',
    auth: s.auth.access({ scopes: ACCESS_FULL, checkTakedown: true }),
    blobLimit: maxSize,
    handler: async ({ auth, body }) => {
      if (!s.config.service.acceptingImports) throw invalidRequest('Service is not accepting repo imports')
      const did = auth.did
      const store = s.actors.get(did)
      if (!store) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
      if (!body) throw invalidRequest('A request body is expected but none was provided')
      const car = await readImportCar(body, maxSize)
      const signingKeys = await signingKeysOf(s, did, store.keypair().did())
      // No await from here to the commit: nothing else can write this repo in between.
      importRepoCar(store, car, { signingKeys })
      // Blobs uploaded before the import are now referenced: move them out of temp storage.
      const outcome = await finishPendingBlobs(store.blobs, s.blobs, did)
      if (outcome.failed.length > 0) {
        s.logger.warn({ did, failed: outcome.failed.length }, 'importRepo: some referenced blobs could not be made permanent')
      }
    },
  }
}

/**
 * The keys an imported commit may be signed with: this PDS's key for the account (a re-import
 * of its own export), the DID document's current key (the old host's, mid-migration) and, for
 * did:plc, every key in the DID's history (a backup from a host since replaced).
 */
async function signingKeysOf(s: Pick<Services, 'didResolver' | 'plc'>, did: string, localKey: string): Promise<string[]> {
  const keys = new Set<string>([localKey])
  try {
    const doc = await s.didResolver.resolve(did, true)
    const key = doc ? getSigningKey(doc) : undefined
    if (key) keys.add(key)
  } catch {
    // Unresolvable now: the history below, or the local key, must do.
  }
  if (did.startsWith('did:plc:')) {
    try {
      for (const key of historicalSigningKeys(await s.plc.getAuditLog(did))) keys.add(key)
    } catch {
      // As above.
    }
  }
  return [...keys]
}
