// The composition root: builds the services from the config, registers every route and
// method, listens, and shuts down in order (stop accepting, finish requests, close databases).
import { loadMethodFactories } from './api/index.ts'
import { type ServerConfig, withListenPort } from './config/index.ts'
import { type BlobSweep, startBlobSweep } from './actions/blob-sweep.ts'
import { installBackstop } from './xrpc/backstop.ts'
import { registerBasicRoutes } from './http/basic-routes.ts'
import { registerWellKnown } from './http/well-known.ts'
import { registerTlsCheck } from './http/tls-check.ts'
import { registerMetrics } from './http/metrics-route.ts'
import { mountOAuth } from './oauth/index.ts'
import { DeviceStore } from './oauth/device/store.ts'
import { type DeviceSweep, startDeviceSweep } from './oauth/device/sweep.ts'
import { mountOAuthPages } from './oauth/ui/index.ts'
import { mountAdminPages } from './oauth/ui/admin.ts'
import { Crawlers } from './sequencer/crawlers.ts'
import { proxyFallback } from './proxy/pipethrough.ts'
import { subsystemLogger } from './logger.ts'
import { createServices, type Services } from './services.ts'
import { checkBlobStore, createBlobStore } from './blob/create.ts'
import { createXrpcServer, type RouteHandler, type XrpcServer, xrpcOptionsFromConfig } from './xrpc/server.ts'
import { isPlcDidPath } from './plc/index.ts'

export interface Hearth {
  /** The base URL clients reach (after listening, with the real port). */
  url: string
  port: number
  config: ServerConfig
  services: Services
  xrpc: XrpcServer
  blobSweep: BlobSweep
  /** Null when OAuth is off. */
  deviceSweep: DeviceSweep | null
  close(): Promise<void>
}

export async function startServer(config: ServerConfig, opts: { host?: string } = {}): Promise<Hearth> {
  // Process-wide, once: a bug in one request must not end the process serving all the others.
  installBackstop(subsystemLogger('hearth'))
  const xrpc = createXrpcServer(xrpcOptionsFromConfig(config))
  const factories = await loadMethodFactories()
  // The blob store is checked before anything is served: wrong credentials, a missing bucket or
  // an unreachable endpoint stop the start with their name, not the first upload.
  const blobs = await createBlobStore(config.blobstore, subsystemLogger('blobstore'))
  try {
    await checkBlobStore(blobs)
  } catch (err) {
    blobs.close()
    throw err
  }
  // The port may be 0 (tests): listen first, then build everything with the real public URL.
  // Everything from here to the end of registration is synchronous, so no request is served
  // before every method is registered.
  const addr = await xrpc.listen(config.service.port, opts.host ?? '127.0.0.1')
  const cfg = config.service.port === 0 ? withListenPort(config, addr.port) : config
  const services = createServices(cfg, { blobs })
  // A move in calls this server's own XRPC methods over loopback (src/actions/move-in.ts).
  const pages = mountOAuthPages(xrpc, services, { selfUrl: loopbackUrl(opts.host ?? '127.0.0.1', addr.port) })
  registerBasicRoutes(xrpc, {
    version: cfg.service.version,
    check: () => services.checkHealth(),
    home: pages.home,
  })
  registerWellKnown(xrpc, services)
  registerTlsCheck(xrpc, services)
  const stopMetrics = registerMetrics(xrpc, services)
  mountOAuth(xrpc, services)
  const adminPages = mountAdminPages(xrpc, services, { check: () => services.checkHealth() })
  if (services.localPlc && cfg.identity.localPlcPath) {
    // Standard clients (@atproto/identity) ask `<directory URL>/<did>` with any path of the URL
    // dropped, so DID paths are answered at the root too (the URL announced is the root's);
    // `/plc/…` stays for data directories and tools set up before.
    const route = services.localPlc.route(cfg.identity.localPlcPath, { rootDidPaths: true })
    const serve: RouteHandler = ({ req, res }) => {
      if (!route(req, res)) res.writeHead(404).end()
    }
    xrpc.addRoute(['GET', 'POST'], `${cfg.identity.localPlcPath}/*`, serve)
    xrpc.addMatchRoute(['GET', 'POST'], isPlcDidPath, serve, { label: '/did:plc:*' })
  }
  for (const make of factories) xrpc.register(make(services))
  // Calls no Hearth method takes go to their service (the AppView by default), as official.
  xrpc.setFallback(proxyFallback(services))
  xrpc.addSubscription('com.atproto.sync.subscribeRepos', (req, socket, head) => {
    services.firehose.handleUpgrade(req, socket, head)
  })
  // Sweep unused uploads a few times per grace period, at most hourly.
  const sweep = startBlobSweep(services, Math.max(1000, Math.min(cfg.hearth.blobGcGraceMs / 4, 60 * 60_000)))
  // Devices no one signed in on, every few minutes (they cost a row per page visit).
  const deviceSweep = services.oauth ? startDeviceSweep(new DeviceStore(services.accounts.db), 5 * 60_000, services.logger) : null
  // The accounts served most before a restart are warm again soon after it, off the request path.
  if (cfg.actorStore.reopenAtStart) services.actors.reopenRecent()
  const crawlers = new Crawlers(cfg.service.hostname, cfg.crawlers, services.sequencer, services.logger)
  void crawlers.notifyOfUpdate()
  let closed = false
  return {
    url: cfg.service.publicUrl,
    port: addr.port,
    config: cfg,
    services,
    xrpc,
    blobSweep: sweep,
    deviceSweep,
    async close() {
      if (closed) return
      closed = true
      sweep.stop()
      stopMetrics()
      deviceSweep?.stop()
      crawlers.close()
      pages.close()
      services.firehose.close()
      await xrpc.close(cfg.hearth.shutdownTimeoutMs)
      await adminPages.close()
      services.close()
    },
  }
}

/** The address this server reaches itself at: loopback when it listens on every interface. */
function loopbackUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '::' || host === '' || host === 'localhost') return `http://127.0.0.1:${port}`
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`
}
