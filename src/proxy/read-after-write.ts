// Read-after-write (the official read-after-write/util.ts): the AppView tells, in its
// `atproto-repo-rev` header, how far into the account's repo it has indexed. When the account
// wrote records since, the response is read, patched with them by a method-specific munge, and
// sent as JSON with an `Atproto-Upstream-Lag` header. Anything unusual sends the upstream
// response as it came.
import type { AccessAuth, AuthResult } from '../xrpc/auth-result.ts'
import type { CoreServices } from '../core-services.ts'
import { assertValidXrpcOutput } from '../lexicons.ts'
import type { XrpcContext, XrpcMethod, XrpcOutput } from '../xrpc/types.ts'
import { getLocalLag, getRecordsSinceRev, type LocalRecords, LocalViewer } from './local-viewer.ts'
import { pipethrough, proxiedAccessAuth, streamOutput } from './pipethrough.ts'
import { isJsonContentType, type ProxyClient, readResponseBody } from './upstream.ts'

type Json = Record<string, unknown>

export type ReadAfterWriteServices = Pick<
  CoreServices,
  'config' | 'auth' | 'actors' | 'accounts' | 'didResolver' | 'logger'
> & { proxy: ProxyClient }

export type Munge = (viewer: LocalViewer, original: Json, local: LocalRecords, requester: string) => Json | Promise<Json>

function requesterOf(auth: AuthResult): string {
  if (auth.kind !== 'access' && auth.kind !== 'service' && auth.kind !== 'refresh') throw new Error('read-after-write needs an account')
  return auth.did
}

/** Proxies the call as the requester and patches the response with unindexed local records. */
export async function pipethroughReadAfterWrite(s: ReadAfterWriteServices, ctx: XrpcContext, munge: Munge): Promise<XrpcOutput> {
  const requester = requesterOf(ctx.auth)
  const res = await pipethrough(s, ctx, { iss: requester })
  const rev = res.headers['atproto-repo-rev']
  if (!rev) return streamOutput(res)
  if (isJsonContentType(res.headers['content-type']) === false) return streamOutput(res)
  const store = s.actors.get(requester)
  if (!store) return streamOutput(res)
  const local = getRecordsSinceRev(store, rev)
  if (local.count === 0) return streamOutput(res)
  const buffer = await readResponseBody(res.response, s.proxy.maxResponseSize)
  const headers = { ...res.headers }
  delete headers['content-length']
  delete headers['content-encoding']
  delete headers['content-type']
  const asIs: XrpcOutput = { encoding: res.encoding, body: buffer, headers, passthrough: true }
  try {
    const parsed = JSON.parse(buffer.toString('utf8')) as unknown
    // Upstream data that does not match the lexicon is not patched.
    try {
      assertValidXrpcOutput(ctx.nsid, parsed)
    } catch {
      return asIs
    }
    const data = await munge(new LocalViewer(s, store), parsed as Json, local, requester)
    return formatMungedResponse(data, getLocalLag(local))
  } catch (err) {
    s.logger.warn({ err, nsid: ctx.nsid }, 'error in read after write munge')
    return asIs
  }
}

export function formatMungedResponse(body: Json, lag: number | undefined): XrpcOutput {
  return {
    encoding: 'application/json',
    body,
    headers: lag !== undefined ? { 'Atproto-Upstream-Lag': lag.toString(10) } : undefined,
  }
}

/** A proxied app.bsky query with read-after-write patching (the official handler shape). */
export function readAfterWriteMethod(s: ReadAfterWriteServices, nsid: string, munge: Munge): XrpcMethod<AccessAuth> {
  return {
    nsid,
    auth: proxiedAccessAuth(s, nsid),
    handler: (ctx) => pipethroughReadAfterWrite(s, ctx, munge),
  }
}
