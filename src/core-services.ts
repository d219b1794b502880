// The stores and clients below the protocol front ends, as one type. Code below the composition
// root (the cross-store actions, OAuth, the proxy, the plain HTTP routes) names the few members
// it uses with `Pick<CoreServices, ...>`, so it depends on the stores, never on `Services` and
// so never on the modules that `Services` also holds (OAuth, the proxy client).
import type { AccountStore } from './account/store.ts'
import type { ActorStoreManager } from './actor/manager.ts'
import type { SessionManager } from './auth/session.ts'
import type { AuthVerifiers } from './auth/verifier.ts'
import type { BlobStore } from './blob/store.ts'
import type { ServerConfig } from './config/index.ts'
import type { FirehoseHub } from './firehose/hub.ts'
import type { DidCache } from './identity/did-cache.ts'
import type { DidResolver } from './identity/did-resolver.ts'
import type { HandleResolver } from './identity/handle-resolver.ts'
import type { PlcDirectory } from './identity/plc-client.ts'
import type { Logger } from './logger.ts'
import type { Mailer } from './mail/mailer.ts'
import type { LocalPlc } from './plc/index.ts'
import type { Secp256k1Keypair } from './repo/crypto/index.ts'
import type { Sequencer } from './sequencer/sequencer.ts'

export interface CoreServices {
  config: ServerConfig
  logger: Logger
  accounts: AccountStore
  sessions: SessionManager
  auth: AuthVerifiers
  actors: ActorStoreManager
  sequencer: Sequencer
  /** The blob store: local disk or an S3-compatible bucket (PDS_BLOBSTORE_*). */
  blobs: BlobStore
  /** The PLC directory this PDS registers DIDs with (the embedded one in local mode). */
  plc: PlcDirectory
  /** PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: signs every PLC operation for hosted DIDs. */
  plcRotationKey: Secp256k1Keypair
  didCache: DidCache
  didResolver: DidResolver
  handleResolver: HandleResolver
  /** The embedded did:plc directory (local mode), or null. */
  localPlc: LocalPlc | null
  firehose: FirehoseHub
  /** Account and moderation email (logs instead of sending when no SMTP is configured). */
  mailer: Mailer
}
