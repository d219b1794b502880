// GET /metrics: the Prometheus exposition of src/metrics/index.ts, behind the admin password (Basic
// `admin:<PDS_ADMIN_PASSWORD>`, as the admin XRPC methods), so it can sit on the public port: a
// scraper sends the same credentials (`basic_auth` in prometheus.yml). Also ties this server's
// stores to the scrape-time gauges and counts its commits as the sequencer hands them out.
import { readFileSync, statSync } from 'node:fs'
import { opendir, stat } from 'node:fs/promises'
import path from 'node:path'
import { LAST_BACKUP_NAME } from '../admin/backup.ts'
import type { CoreServices } from '../core-services.ts'
import { addMetricSource, commits, exposition } from '../metrics/index.ts'
import type { SeqRow } from '../sequencer/sequencer.ts'
import type { XrpcServer } from '../xrpc/server.ts'

type MetricsServices = Pick<CoreServices, 'auth' | 'config' | 'firehose' | 'sequencer'>

/** Registers the route and this server's metric sources; returns what undoes the latter. */
export function registerMetrics(server: XrpcServer, services: MetricsServices): () => void {
  const { db, identity } = services.config
  const files: Record<string, string> = {
    account: db.accountDbLocation,
    sequencer: db.sequencerDbLocation,
    did_cache: db.didCacheDbLocation,
  }
  if (identity.localPlc) files.plc = identity.localPlcDbLocation
  const blobSize = services.config.blobstore.provider === 'disk' ? measuredDirectory(services.config.blobstore.location) : () => null
  const removeSource = addMetricSource({
    firehoseSubscribers: () => services.firehose.subscriberCount,
    sqliteBytes: () => {
      const out: Record<string, number> = {}
      for (const [name, file] of Object.entries(files)) out[name] = fileSize(file) + fileSize(`${file}-wal`)
      return out
    },
    blobBytes: blobSize,
    lastBackupAt: () => lastBackupAt(path.join(db.dataDirectory, LAST_BACKUP_NAME)),
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

/** The note `hearth backup` leaves in the data directory (a small file, read per scrape). */
function lastBackupAt(file: string): number | null {
  try {
    const at = Date.parse((JSON.parse(readFileSync(file, 'utf8')) as { createdAt?: string }).createdAt ?? '')
    return Number.isFinite(at) ? at : null
  } catch {
    return null
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

const BLOB_MEASURE_INTERVAL_MS = 5 * 60_000

/**
 * The size of a directory tree, walked in the background when asked and the last walk is older
 * than the interval: a scrape never waits on (nor repeats) a walk of many blob files.
 */
function measuredDirectory(dir: string): () => number | null {
  let value: number | null = null
  let measuredAt = -Infinity
  let walking = false
  return () => {
    if (!walking && Date.now() - measuredAt > BLOB_MEASURE_INTERVAL_MS) {
      walking = true
      treeBytes(dir).then(
        (bytes) => {
          value = bytes
          measuredAt = Date.now()
          walking = false
        },
        () => {
          walking = false
          measuredAt = Date.now()
        },
      )
    }
    return value
  }
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0
  let handle
  try {
    handle = await opendir(dir)
  } catch {
    return 0
  }
  for await (const entry of handle) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) total += await treeBytes(full)
    else if (entry.isFile()) total += await stat(full).then((s) => s.size, () => 0)
  }
  return total
}
