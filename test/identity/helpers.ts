// Shared by the identity and PLC tests: loopback HTTP servers and a real PLC directory.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as plcServer from '@did-plc/server'

export interface TestServer {
  server: Server
  port: number
  url: string
  close(): Promise<void>
}

/** An HTTP server on 127.0.0.1 with an ephemeral port. */
export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<TestServer> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

interface PlcServerApi {
  PlcServer: { create(opts: { db: unknown; port?: number }): { start(): Promise<Server>; destroy(): Promise<void> } }
  Database: { mock(): unknown }
}

/** The reference PLC directory (@did-plc/server) with its in-memory database. */
export async function startReferencePlc(): Promise<{ url: string; close(): Promise<void> }> {
  const api = plcServer as unknown as PlcServerApi
  const server = api.PlcServer.create({ db: api.Database.mock(), port: 0 })
  const http = await server.start()
  const port = (http.address() as AddressInfo).port
  return { url: `http://127.0.0.1:${port}`, close: () => server.destroy() }
}

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
