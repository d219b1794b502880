// A router with a few real lexicon methods behind dummy handlers, listening on loopback.
import { Readable } from 'node:stream'
import type { AuthResult } from '../../src/xrpc/auth-result.ts'
import { createLogger, type Logger } from '../../src/logger.ts'
import { authRequired, XrpcError } from '../../src/errors.ts'
import { createXrpcServer, type XrpcServer, type XrpcServerOptions } from '../../src/xrpc/server.ts'
import type { XrpcRequestInfo } from '../../src/xrpc/types.ts'
import { listen, type Listening } from '../helpers/net.ts'

export const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
export const CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
export const RAW_CID = 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy'

/** Bearer "good" is an access session; any other authorization header is refused. */
export function bearerAuth(info: XrpcRequestInfo): AuthResult {
  const header = info.req.headers.authorization
  if (header === 'Bearer good') return { kind: 'access', did: DID, scope: 'com.atproto.access', appPasswordName: null }
  throw authRequired(header ? 'Invalid authorization header' : 'Authentication Required')
}

export function optionalAuth(info: XrpcRequestInfo): AuthResult {
  if (info.req.headers.authorization === undefined) return { kind: 'none' }
  return bearerAuth(info)
}

export const noAuth = (): AuthResult => ({ kind: 'none' })

export interface Fixture {
  server: XrpcServer
  net: Listening
  url: string
  logLines: string[]
  /** What the handlers saw last. */
  seen: {
    params?: Record<string, unknown>
    input?: unknown
    bodyBytes?: number
    auth?: AuthResult
    encoding?: string | null
    /** Chunks the getRepo stream produced, and whether it was closed (finally ran). */
    chunksProduced?: number
    streamClosed?: boolean
  }
  close(): Promise<void>
}

export async function startFixture(opts: XrpcServerOptions = {}): Promise<Fixture> {
  const logLines: string[] = []
  const logger: Logger = createLogger({ name: 'test', config: { level: 'debug' }, sink: { write: (l) => logLines.push(l) } })
  const server = createXrpcServer({ validateResponses: true, logger, ...opts })
  const seen: Fixture['seen'] = {}

  server.register({
    nsid: 'com.atproto.repo.getRecord',
    auth: optionalAuth,
    handler: (ctx) => {
      seen.params = ctx.params
      seen.auth = ctx.auth
      return {
        encoding: 'application/json',
        body: { uri: `at://${ctx.params.repo}/${ctx.params.collection}/${ctx.params.rkey}`, cid: CID, value: { text: 'hi' } },
      }
    },
  })
  server.register({
    nsid: 'com.atproto.repo.listRecords',
    auth: noAuth,
    handler: (ctx) => {
      seen.params = ctx.params
      return { encoding: 'application/json', body: { records: [] } }
    },
  })
  server.register({
    nsid: 'com.atproto.sync.getBlocks',
    auth: noAuth,
    handler: (ctx) => {
      seen.params = ctx.params
      return { encoding: 'application/vnd.ipld.car', body: new Uint8Array([1, 2, 3]) }
    },
  })
  server.register({
    nsid: 'com.atproto.repo.createRecord',
    auth: bearerAuth,
    handler: (ctx) => {
      seen.input = ctx.input
      seen.auth = ctx.auth
      return {
        encoding: 'application/json',
        body: { uri: `at://${DID}/app.bsky.feed.post/3k2yihcrp6f2c`, cid: CID },
      }
    },
  })
  server.register({
    nsid: 'com.atproto.server.createInviteCodes',
    auth: noAuth,
    handler: (ctx) => {
      seen.input = ctx.input
      return { encoding: 'application/json', body: { codes: [] } }
    },
  })
  server.register({
    nsid: 'com.atproto.repo.uploadBlob',
    auth: bearerAuth,
    blobLimit: 1000,
    handler: async (ctx) => {
      seen.encoding = ctx.encoding
      let n = 0
      for await (const chunk of ctx.body as Readable) n += (chunk as Buffer).length
      seen.bodyBytes = n
      return {
        encoding: 'application/json',
        body: { blob: { $type: 'blob', ref: { $link: RAW_CID }, mimeType: ctx.encoding ?? 'application/octet-stream', size: n } },
      }
    },
  })
  server.register({
    nsid: 'com.atproto.server.describeServer',
    auth: noAuth,
    handler: () => {
      throw new Error('database password is hunter2')
    },
  })
  server.register({
    nsid: 'com.atproto.repo.describeRepo',
    auth: noAuth,
    handler: (ctx) => {
      throw new XrpcError(400, 'RepoNotFound', `Could not find repo: ${ctx.params.repo}`)
    },
  })
  server.register({
    nsid: 'com.atproto.identity.resolveHandle',
    auth: noAuth,
    handler: (ctx) => ({
      encoding: 'application/json',
      // A handler bug: "bob.test" is not a DID.
      body: { did: ctx.params.handle === 'bad.test' ? 'bob.test' : DID },
    }),
  })
  server.register({
    nsid: 'com.atproto.sync.getRepo',
    auth: noAuth,
    handler: (ctx) => {
      if (ctx.params.did === 'did:plc:fail') {
        return {
          encoding: 'application/vnd.ipld.car',
          body: Readable.from(
            (async function* () {
              throw new XrpcError(400, 'RepoNotFound', 'no such repo')
            })(),
          ),
        }
      }
      const count = ctx.params.did === 'did:plc:big' ? 16384 : 64 // 256 MiB or 1 MiB
      seen.chunksProduced = 0
      seen.streamClosed = false
      async function* chunks() {
        try {
          for (let i = 0; i < count; i++) {
            seen.chunksProduced = i + 1
            yield Buffer.alloc(16 * 1024, i % 256)
          }
        } finally {
          seen.streamClosed = true
        }
      }
      return { encoding: 'application/vnd.ipld.car', body: chunks() }
    },
  })
  server.register({
    nsid: 'com.atproto.server.deleteSession',
    auth: bearerAuth,
    handler: () => undefined,
  })

  const net = await listen(server.httpServer)
  return {
    server,
    net,
    url: net.url,
    logLines,
    seen,
    close: () => net.close(),
  }
}

export async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text()
  return JSON.parse(text) as Record<string, unknown>
}
