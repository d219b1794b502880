// What write-floor.ts's two servers share: bare node:http and nothing else around their commit.
// Each POST's JSON body goes to `commit`, whose result is the JSON answer (a 500 with the error's
// text when it throws or rejects). The port, the data folder and the account's DID come from the
// command line (`<bundle> <port> <data dir> <did>`); `ready` goes to the parent on IPC once the
// server listens; SIGTERM closes the server and calls `close`.
import { createServer } from 'node:http'

export interface FloorArgs {
  port: number
  dir: string
  did: string
}

export function floorArgs(): FloorArgs {
  const [port, dir, did] = process.argv.slice(2)
  if (!port || !dir || !did) throw new Error('usage: <bundle> <port> <data dir> <did>')
  return { port: Number(port), dir, did }
}

export function serveFloor(port: number, commit: (body: { collection: string; record: unknown }) => unknown, close: () => void): void {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const fail = (err: unknown) => {
        res.statusCode = 500
        res.end(String(err))
      }
      const answer = (out: unknown) => {
        const text = JSON.stringify(out)
        res.setHeader('Content-Type', 'application/json; charset=utf-8')
        res.setHeader('Content-Length', Buffer.byteLength(text))
        res.end(text)
      }
      try {
        const out = commit(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        if (out instanceof Promise) out.then(answer, fail)
        else answer(out)
      } catch (err) {
        fail(err)
      }
    })
  })
  server.keepAliveTimeout = 90_000
  server.listen(port, '127.0.0.1', () => process.send?.('ready'))
  process.on('SIGTERM', () => {
    server.close()
    close()
    process.exit(0)
  })
}
