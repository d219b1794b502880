// A lean XRPC client for the server benchmark: node:http with keep-alive, so that the client's
// own cost per request stays small next to the server's and is the same for both servers.
import { Agent, request } from 'node:http'

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    nsid: string,
  ) {
    super(`${nsid}: HTTP ${status} ${body.slice(0, 200)}`)
  }
}

export interface XrpcClient {
  call(method: 'GET' | 'POST', nsid: string, opts?: { params?: Record<string, string>; json?: unknown; body?: Uint8Array; contentType?: string; token?: string }): Promise<unknown>
  close(): void
}

export function xrpcClient(baseUrl: string): XrpcClient {
  const url = new URL(baseUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  return {
    call(method, nsid, opts = {}) {
      let path = `/xrpc/${nsid}`
      if (opts.params) path += `?${new URLSearchParams(opts.params).toString()}`
      const headers: Record<string, string> = {}
      let payload: Uint8Array | string | undefined
      if (opts.json !== undefined) {
        payload = JSON.stringify(opts.json)
        headers['content-type'] = 'application/json'
      } else if (opts.body) {
        payload = opts.body
        headers['content-type'] = opts.contentType ?? 'application/octet-stream'
      }
      if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload))
      if (opts.token) headers.authorization = `Bearer ${opts.token}`
      return new Promise((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path, method, headers, agent }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            const status = res.statusCode ?? 0
            if (status < 200 || status >= 300) return reject(new HttpError(status, text, nsid))
            try {
              resolve(text.length > 0 ? JSON.parse(text) : undefined)
            } catch (err) {
              reject(err)
            }
          })
        })
        req.on('error', reject)
        req.end(payload)
      })
    },
    close: () => agent.destroy(),
  }
}
