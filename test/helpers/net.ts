// Real HTTP on loopback for tests: listen on 127.0.0.1 with a free port, close quickly.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Listening {
  url: string
  port: number
  close(): Promise<void>
}

export function listen(server: Server): Promise<Listening> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        close: () =>
          new Promise<void>((done) => {
            if (!server.listening) return done()
            server.close(() => done())
            // Tests do not wait for keep-alive clients to go idle.
            server.closeAllConnections()
          }),
      })
    })
  })
}
