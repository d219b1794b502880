// The embedded PLC directory of local mode: with no network there is no plc.directory, so the
// PDS serves one itself, persisted in `<data>/plc.sqlite` so DIDs survive restarts.
//
// Mounting. Hearth's PlcClient keeps a path prefix, so `http://localhost:2583/plc` works for it.
// @atproto/identity's resolver (and others built the same way) resolves `/<did>` against the
// directory URL, which drops any prefix: they ask `http://localhost:2583/did:plc:…`. `route()`
// therefore also answers DID paths at the root when asked to (`rootDidPaths`), which no other
// route of a PDS can collide with.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { LocalPlcDirectory } from './directory.ts'
import { createPlcHttpHandler } from './http.ts'

export { LocalPlcDirectory, PlcServerError } from './directory.ts'

export interface LocalPlcOptions {
  /** The SQLite file, normally `<data>/plc.sqlite`. */
  dbPath: string
}

export interface LocalPlc {
  /** The directory itself (also a PlcDirectory, for in-process use without HTTP). */
  readonly directory: LocalPlcDirectory
  /** Serves one request; `path` is the request path after the mount prefix (query included). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>
  /**
   * A `(req, res) => boolean` route for a raw node:http server: serves, and returns true, for
   * paths under `prefix` (e.g. `/plc`) and, with `rootDidPaths`, for `/did:plc:…` at the root.
   */
  route(prefix: string, opts?: { rootDidPaths?: boolean }): (req: IncomingMessage, res: ServerResponse) => boolean
  close(): void
}

/** True for a path (at the root) naming a did:plc, percent-encoded or not. */
export function isPlcDidPath(path: string): boolean {
  return /^\/did(?::|%3a)plc(?::|%3a)/i.test(path)
}

export function createLocalPlc(opts: LocalPlcOptions): LocalPlc {
  const directory = new LocalPlcDirectory(opts.dbPath)
  const handler = createPlcHttpHandler(directory)
  return {
    directory,
    handle: handler,
    route(prefix, routeOpts = {}) {
      const base = prefix.replace(/\/+$/, '')
      return (req, res) => {
        const url = req.url ?? '/'
        let path: string | null = null
        if (base !== '' && (url === base || url.startsWith(`${base}/`) || url.startsWith(`${base}?`))) {
          path = url.slice(base.length) || '/'
        } else if (base === '' || (routeOpts.rootDidPaths && isPlcDidPath(url))) {
          path = url
        }
        if (path === null) return false
        void handler(req, res, path)
        return true
      }
    },
    close() {
      directory.close()
    },
  }
}
