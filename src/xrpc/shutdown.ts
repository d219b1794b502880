// Graceful shutdown of an http.Server, as http-terminator does it for the official PDS: stop
// accepting connections, close idle keep-alive sockets at once, let in-flight requests finish
// (their connections close when they do: later responses get `Connection: close`), and destroy
// whatever is still open after the timeout.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

const closing = new WeakSet<Server>()

/** Whether `closeServer` has been called on this server. */
export function isClosing(server: Server): boolean {
  return closing.has(server)
}

/**
 * Resolves once every connection is gone. `upgraded`: sockets taken over by an upgrade
 * (WebSockets), which node:http no longer tracks; their owners should close them first, and
 * whatever is left of them is destroyed at the deadline.
 */
export async function closeServer(server: Server, timeoutMs = 10_000, upgraded: Iterable<Duplex> = []): Promise<void> {
  if (closing.has(server)) return waitClosed(server)
  closing.add(server)
  if (!server.listening) {
    server.closeAllConnections()
    return
  }
  const markClose = (_req: IncomingMessage, res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close')
  }
  server.prependListener('request', markClose)
  // Connections that finish their request become idle; close them as they do.
  const sweeper = setInterval(() => server.closeIdleConnections(), 50)
  const deadline = setTimeout(() => {
    server.closeAllConnections()
    for (const socket of upgraded) socket.destroy()
  }, timeoutMs)
  try {
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
    })
  } finally {
    clearInterval(sweeper)
    clearTimeout(deadline)
    server.off('request', markClose)
  }
}

function waitClosed(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve()
  return new Promise((resolve) => server.once('close', () => resolve()))
}
