// GET /metrics: the Prometheus exposition of src/metrics.ts, behind the admin password (Basic
// `admin:<PDS_ADMIN_PASSWORD>`, as the admin XRPC methods), so it can sit on the public port: a
// scraper sends the same credentials (`basic_auth` in prometheus.yml). Also ties this server's
// stores to the scrape-time gauges and counts its commits as the sequencer hands them out.
import { statSync } from 'node:fs'
import type { CoreServices } from '../core-services.ts'
import { addMetricSource, commits, exposition, startRuntimeMetrics } from '../metrics.ts'
import type { SeqRow } from '../sequencer/sequencer.ts'
import type { XrpcServer } from '../xrpc/server.ts'

type MetricsServices = Pick<CoreServices, 'auth' | 'config' | 'firehose' | 'sequencer'>

/** Registers the route and this server's metric sources; returns what undoes the latter. */
export function registerMetrics(server: XrpcServer, services: MetricsServices): () => void {
  startRuntimeMetrics()
  const { db, identity } = services.config
  const files: Record<string, string> = {
    account: db.accountDbLocation,
    sequencer: db.sequencerDbLocation,
    did_cache: db.didCacheDbLocation,
  }
  if (identity.localPlc) files.plc = identity.localPlcDbLocation
  const removeSource = addMetricSource({
    firehoseSubscribers: () => services.firehose.subscriberCount,
    sqliteBytes: () => {
      const out: Record<string, number> = {}
      for (const [name, file] of Object.entries(files)) out[name] = fileSize(file) + fileSize(`${file}-wal`)
      return out
    },
  })
  const onEvents = (rows: SeqRow[]) => {
    for (const row of rows) if (row.eventType === 'append') commits.inc()
  }
  services.sequencer.on('events', onEvents)

  server.addRoute('GET', '/metrics', async ({ req, res, ip }) => {
    await services.auth.admin({ nsid: 'metrics', req, ip })
    const { contentType, body } = await exposition()
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(body)
  })
  return () => {
    removeSource()
    services.sequencer.off('events', onEvents)
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}
