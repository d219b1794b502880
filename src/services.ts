// The stores and clients a running PDS is made of, built once from the config. Handlers take
// a `Services` and use the few members they need; nothing here knows about HTTP.
import { AccountStore } from './account/store.ts'
import { openAccountDb } from './account/db.ts'
import { ActorStoreManager } from './actor/manager.ts'
import { followRepoRoots } from './actions/repo-roots.ts'
import { AuthVerifiers, didDocSigningKeyResolver } from './auth/verifier.ts'
import { SessionManager } from './auth/session.ts'
import { DiskBlobStore } from './blob/disk-store.ts'
import type { BlobStore } from './blob/store.ts'
import type { ServerConfig } from './config/index.ts'
import type { CoreServices } from './core-services.ts'
import { FirehoseHub } from './firehose/hub.ts'
import { DidCache } from './identity/did-cache.ts'
import { DidResolver } from './identity/did-resolver.ts'
import { HandleResolver } from './identity/handle-resolver.ts'
import { PlcClient, type PlcDirectory } from './identity/plc-client.ts'
import { type Logger, subsystemLogger } from './logger.ts'
import { Mailer } from './mail/mailer.ts'
import { createLocalPlc, type LocalPlc } from './plc/index.ts'
import { Secp256k1Keypair } from './repo/crypto/index.ts'
import { Sequencer } from './sequencer/sequencer.ts'
import { localLexiconReader } from './oauth/lexicons.ts'
import { OAuthProvider } from './oauth/provider.ts'
import { createOAuthVerifier } from './oauth/resource.ts'
import { ProxyClient } from './proxy/upstream.ts'

/** Everything a handler may use: the core stores, and the front ends built on them. */
export interface Services extends CoreServices {
  /** The OAuth authorization server (and resource-server token checks). */
  oauth: OAuthProvider
  /** The HTTP client of service proxying (src/proxy). */
  proxy: ProxyClient
  /** Throws when the server cannot serve (for /xrpc/_health). */
  checkHealth(): void
  close(): void
}

export function createServices(config: ServerConfig, opts: { blobs?: BlobStore } = {}): Services {
  const logger = subsystemLogger('pds')
  const accountDb = openAccountDb(config.db.accountDbLocation)
  const accounts = new AccountStore(accountDb, { hostname: config.service.hostname })
  const sequencer = new Sequencer(config.db.sequencerDbLocation)
  const actors = new ActorStoreManager(config.actorStore.directory, sequencer, config.actorStore.cacheSize, {
    mstNodeCache: config.actorStore.mstNodeCache,
  })
  followRepoRoots({ accounts, sequencer })
  // The S3 store is built (and checked) by the server before this; the disk store needs neither.
  const blobs = opts.blobs ?? diskBlobStore(config)
  const localPlc = config.identity.localPlc ? createLocalPlc({ dbPath: config.identity.localPlcDbLocation }) : null
  // In local mode the PDS talks to its own directory in-process; clients reach it over HTTP.
  const plc: PlcDirectory = localPlc
    ? localPlc.directory
    : new PlcClient({ url: config.identity.plcUrl, timeoutMs: config.identity.resolverTimeoutMs })
  const allowPrivate = config.service.devMode || config.fetch.disableSsrfProtection || config.service.localMode
  const didCache = DidCache.open(config.db.didCacheDbLocation, {
    staleTtlMs: config.identity.cacheStaleTtlMs,
    maxTtlMs: config.identity.cacheMaxTtlMs,
  })
  const didResolver = new DidResolver({
    plc,
    timeoutMs: config.identity.resolverTimeoutMs,
    cache: didCache,
    allowPrivate,
    onRefreshError: (did, err) => logger.warn({ did, err: String(err) }, 'DID document refresh failed'),
  })
  const handleResolver = new HandleResolver({
    timeoutMs: config.identity.resolverTimeoutMs,
    allowPrivate,
    backupNameservers: config.identity.handleBackupNameservers,
  })
  const sessions = new SessionManager(accounts, { jwtSecret: config.secrets.jwtSecret, serviceDid: config.service.did })
  const oauth = new OAuthProvider({
    issuer: config.oauth.issuer,
    serviceDid: config.service.did,
    jwtSecret: config.secrets.jwtSecret,
    dpopSecret: config.secrets.dpopSecret,
    accounts,
    trustedClients: config.oauth.trustedClients,
    allowPrivateClientFetch: allowPrivate,
    resolveDid: (did) => didResolver.resolve(did),
    readLocalLexicon: localLexiconReader({ accounts, actors }),
  })
  const auth = new AuthVerifiers({
    jwtSecret: config.secrets.jwtSecret,
    serviceDid: config.service.did,
    adminPassword: config.secrets.adminPassword,
    store: accounts,
    resolveSigningKey: didDocSigningKeyResolver(didResolver),
    modServiceDid: config.modService?.did ?? null,
    sessions,
    oauth: createOAuthVerifier(() => oauth, accounts),
  })
  const firehose = new FirehoseHub(sequencer, {
    maxBuffer: config.subscription.maxBuffer,
    backfillLimitMs: config.subscription.repoBackfillLimitMs,
  })
  const proxy = new ProxyClient({
    allowPrivate: config.proxy.disableSsrfProtection,
    headersTimeoutMs: config.proxy.headersTimeoutMs,
    bodyTimeoutMs: config.proxy.bodyTimeoutMs,
    maxResponseSize: config.proxy.maxResponseSize,
    maxRetries: Math.max(0, config.proxy.maxRetries),
    logger: subsystemLogger('pds:proxy'),
  })
  const plcRotationKey = Secp256k1Keypair.import(config.secrets.plcRotationKeyK256PrivateKeyHex)
  const mailer = new Mailer({
    email: config.email,
    moderationEmail: config.moderationEmail,
    disableConfirmationLink: config.service.emailDisableConfirmationLink,
    logger: subsystemLogger('mailer'),
  })
  return {
    config,
    logger,
    accounts,
    sessions,
    auth,
    actors,
    sequencer,
    blobs,
    plc,
    plcRotationKey,
    didCache,
    didResolver,
    handleResolver,
    localPlc,
    firehose,
    oauth,
    proxy,
    mailer,
    checkHealth() {
      accountDb.prepare('SELECT 1').get()
    },
    close() {
      firehose.close()
      proxy.close()
      mailer.close()
      actors.closeAll()
      sequencer.close()
      try {
        // After the log's last appends: repo_root as the official PDS expects to find it.
        accounts.flushRepoRoots()
      } catch (err) {
        logger.error({ err: String(err) }, 'failed to write the pending repo roots')
      }
      didCache.close()
      localPlc?.close()
      accountDb.close()
      blobs.close()
    },
  }
}

function diskBlobStore(config: ServerConfig): BlobStore {
  if (config.blobstore.provider !== 'disk') throw new Error('createServices: pass the S3 blob store (createBlobStore)')
  return new DiskBlobStore(config.blobstore)
}
