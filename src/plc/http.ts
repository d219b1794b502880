// The embedded directory's HTTP API: the subset of plc.directory's routes that PDSs and atproto
// clients use, with the reference server's statuses and bodies (`{ "message": … }` errors,
// `application/did+ld+json` documents, `OK` for an accepted operation, CORS open to all).
//
//   GET  /<did>             DID document            GET /<did>/log/last   last canonical op
//   GET  /<did>/data        document data           GET /<did>/log/audit  every op, with CIDs
//   GET  /<did>/log         canonical op log        POST /<did>           submit an operation
//   GET  /export            JSON lines of all ops   GET /_health          `{ version }`
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PlcServerError, type LocalPlcDirectory } from './directory.ts'

/** The reference server's body limit (express.json({ limit: '100kb' })). */
const MAX_BODY_BYTES = 100 * 1024
const EXPORT_MAX_COUNT = 1000
const VERSION = '0.0.1-hearth'

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET,HEAD,PUT,PATCH,POST,DELETE',
}

export type PlcHttpHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>

export function createPlcHttpHandler(dir: LocalPlcDirectory): PlcHttpHandler {
  return async (req, res, path) => {
    try {
      await route(dir, req, res, path)
    } catch (err) {
      sendError(res, err)
    }
  }
}

async function route(dir: LocalPlcDirectory, req: IncomingMessage, res: ServerResponse, rawPath: string): Promise<void> {
  const method = req.method ?? 'GET'
  if (method === 'OPTIONS') {
    res.writeHead(204, { ...CORS_HEADERS, 'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*', 'content-length': '0' })
    res.end()
    return
  }
  const queryAt = rawPath.indexOf('?')
  const pathname = queryAt < 0 ? rawPath : rawPath.slice(0, queryAt)
  const query = new URLSearchParams(queryAt < 0 ? '' : rawPath.slice(queryAt + 1))
  const segments = pathname.replace(/^\/+/, '').replace(/\/$/, '').split('/')
  const isGet = method === 'GET' || method === 'HEAD'

  if (segments.length === 1 && segments[0] === '_health' && isGet) {
    return sendJson(res, 200, { version: VERSION })
  }
  if (segments.length === 1 && segments[0] === 'export' && isGet) {
    return sendExport(dir, res, query)
  }
  if (segments[0] === '' || segments.length > 3) throw new PlcServerError(404, 'Not Found')
  let did: string
  try {
    did = decodeURIComponent(segments[0])
  } catch {
    throw new PlcServerError(400, `Failed to decode param '${segments[0]}'`)
  }
  const rest = segments.slice(1).join('/')
  if (method === 'POST' && rest === '') {
    const body = await readJsonBody(req)
    await dir.submit(did, body)
    return send(res, 200, 'text/plain; charset=utf-8', 'OK')
  }
  if (!isGet) throw new PlcServerError(404, 'Not Found')
  switch (rest) {
    case '':
      return send(res, 200, 'application/did+ld+json; charset=utf-8', JSON.stringify(dir.document(did)))
    case 'data':
      return sendJson(res, 200, dir.data(did))
    case 'log':
      return sendJson(res, 200, dir.log(did))
    case 'log/audit':
      return sendJson(res, 200, dir.auditLog(did))
    case 'log/last':
      return sendJson(res, 200, dir.lastOp(did))
    default:
      throw new PlcServerError(404, 'Not Found')
  }
}

function sendExport(dir: LocalPlcDirectory, res: ServerResponse, query: URLSearchParams): void {
  const countParam = query.get('count')
  const count = countParam === null ? EXPORT_MAX_COUNT : Number.parseInt(countParam, 10)
  if (Number.isNaN(count) || count < 1) throw new PlcServerError(400, 'Invalid count parameter')
  const afterParam = query.get('after')
  let after: string | undefined
  if (afterParam !== null) {
    const t = new Date(afterParam)
    if (Number.isNaN(t.getTime())) throw new PlcServerError(400, 'Invalid after parameter')
    after = t.toISOString()
  }
  const ops = dir.exportOps(Math.min(count, EXPORT_MAX_COUNT), after)
  send(res, 200, 'application/jsonlines', ops.map((op) => JSON.stringify(op)).join('\n'))
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  // As express.json: a body that is not declared JSON is not parsed, and reads as `{}`.
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  const body = await readBody(req, MAX_BODY_BYTES)
  if (type !== 'application/json' || body.length === 0) return {}
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch (err) {
    throw new PlcServerError(400, err instanceof Error ? err.message : 'Invalid JSON')
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => reject(new PlcServerError(413, 'request entity too large'))
    if (Number(req.headers['content-length'] ?? 0) > limit) return tooLarge()
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.off('data', onData)
        req.off('end', onEnd)
        tooLarge()
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => resolve(Buffer.concat(chunks))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', reject)
  })
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  const buf = Buffer.from(body, 'utf8')
  res.writeHead(status, { ...CORS_HEADERS, 'content-type': contentType, 'content-length': String(buf.length) })
  res.end(res.req?.method === 'HEAD' ? undefined : buf)
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value))
}

function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (err instanceof PlcServerError) {
    // The rest of an oversized body is not read: close the connection after answering.
    if (err.status === 413) res.setHeader('connection', 'close')
    return sendJson(res, err.status, { message: err.message })
  }
  sendJson(res, 500, { message: 'Internal Server Error' })
}
