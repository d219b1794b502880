// The blob store the configuration names: local disk (the default) or an S3-compatible bucket.
import type { BlobstoreConfig } from '../config/types.ts'
import type { Logger } from '../logger.ts'
import { DiskBlobStore } from './disk-store.ts'
import { S3BlobStore } from './s3-store.ts'
import { type BlobStore, BlobStoreUnavailableError } from './store.ts'

export async function createBlobStore(config: BlobstoreConfig, logger?: Logger): Promise<BlobStore> {
  return config.provider === 's3' ? await S3BlobStore.create({ ...config, logger }) : new DiskBlobStore(config)
}

/**
 * Checks, before the server serves, that the store can be written; throws an error that names
 * what is wrong (an unreachable endpoint, refused credentials, a missing bucket or folder).
 */
export async function checkBlobStore(store: BlobStore): Promise<void> {
  try {
    await store.check()
  } catch (err) {
    const reason = err instanceof BlobStoreUnavailableError ? err.reason : err instanceof Error ? err.message : String(err)
    throw new Error(`the ${store.kind === 's3' ? 'S3 ' : ''}blob store cannot be used: ${reason}`, { cause: err })
  }
}
