// GET /account/blobs.tar?did=…: every blob the signed-in account's records use, as one tar
// archive of `blobs/<cid>.<ext>` files, streamed one blob at a time with backpressure (never
// the whole set in memory) from the disk or S3 store alike. The set and the rules are
// com.atproto.sync.listBlobs' and getBlob's for the account itself: a deactivated account gets
// its blobs; a blob taken down, or referenced but never uploaded, is left out (getBlob answers
// "Blob not found" for both), and listed by CID in `blobs/missing.txt`.
import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { finishPendingBlobs } from '../../actions/blob-apply.ts'
import { BlobNotFoundError } from '../../blob/store.ts'
import { tarEnd, tarHeader, tarPadding } from '../../blob/tar.ts'
import { drainOrClose, type RouteContext } from '../../xrpc/server.ts'
import { deviceSessions, guard, type PagesContext } from './context.ts'
import { FormError } from './forms.ts'
import { setSecurityHeaders } from './html.ts'

const PAGE = 500

/** File name extensions for the types a client usually uploads, so the files open by a click. */
const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/avif': 'avif',
  'image/heic': 'heic',
  'image/svg+xml': 'svg',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'audio/mpeg': 'mp3',
  'application/json': 'json',
  'text/plain': 'txt',
}

export function blobFileName(cid: string, mimeType: string): string {
  const ext = EXTENSIONS[mimeType.toLowerCase()]
  return `blobs/${cid}${ext ? `.${ext}` : ''}`
}

/** The signed-in account a download link on our own page names; refused otherwise. */
export function downloadingAccount(ctx: PagesContext, { req, res, ip, searchParams }: Pick<RouteContext, 'req' | 'res' | 'ip' | 'searchParams'>): string {
  // A download link on our page; another site may not start it in this browser.
  const site = req.headers['sec-fetch-site']
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') throw new FormError(403, 'This download must be started from this site.')
  const { deviceId } = ctx.devices.load(req, res, ip)
  const did = searchParams.get('did') ?? ''
  if (!deviceSessions(ctx, deviceId).some((x) => x.did === did && !x.loginRequired)) {
    throw new FormError(403, 'Sign in to this account on this device first.')
  }
  return did
}

export function accountBlobsGet(ctx: PagesContext) {
  return (rc: RouteContext) =>
    guard(ctx, rc.res, rc.req, async () => {
      const did = downloadingAccount(ctx, rc)
      const res = rc.res
      if (!ctx.s.actors.get(did)) throw new FormError(404, 'This account has no repository on this server.')
      const account = ctx.s.accounts.getAccount(did, { includeDeactivated: true, includeTakenDown: true })
      const name = (account?.handle ?? did).replace(/[^A-Za-z0-9._-]/g, '_')
      // Blobs committed a moment ago may still be moving out of temp storage.
      await ctx.s.blobs.serialize(did, async () => {})
      setSecurityHeaders(res)
      res.statusCode = 200
      res.setHeader('Content-Type', 'application/x-tar')
      res.setHeader('Content-Disposition', `attachment; filename="${name}-blobs.tar"`)
      // A client that stops reading is cut off (HEARTH_STREAM_STALL_MS), as getRepo's is: each
      // blob it would wait on holds an open file or an S3 connection.
      const stall = (): void => {
        ctx.s.logger.info({ did, stallMs: rc.stallMs }, `closed a blob download: its client took nothing for ${rc.stallMs} ms`)
        res.destroy()
      }
      const missing: string[] = []
      let cursor: string | undefined
      for (;;) {
        // Looked up again for each page: the store may be closed and reopened while we stream.
        const store = ctx.s.actors.get(did)
        if (!store) break
        const cids = store.blobs.listBlobs({ cursor, limit: PAGE })
        for (const cid of cids) {
          if (res.destroyed) return
          const meta = ctx.s.actors.get(did)?.blobs.getBlobMetadata(cid)
          const body = meta ? await openBlob(ctx, did, cid) : null
          if (!meta || !body) {
            missing.push(cid)
            continue
          }
          if (!(await write(res, tarHeader(blobFileName(cid, meta.mimeType), meta.size, new Date()), stall, rc.stallMs))) {
            body.destroy()
            return
          }
          const sent = await copy(body, res, stall, rc.stallMs)
          if (sent === null) return
          if (sent !== meta.size) {
            // The header promised meta.size bytes: a short or long file would corrupt the rest.
            ctx.s.logger.error({ did, cid, expected: meta.size, sent }, 'blob export: stored size differs from the blob row; download cut')
            res.destroy()
            return
          }
          if (!(await write(res, tarPadding(sent), stall, rc.stallMs))) return
        }
        if (cids.length < PAGE) break
        cursor = cids[cids.length - 1]
      }
      if (missing.length > 0) {
        const text = Buffer.from(
          `Blobs your records use that this server cannot give (never uploaded, or not available), by CID:\n${missing.join('\n')}\n`,
        )
        if (!(await write(res, tarHeader('blobs/missing.txt', text.length, new Date()), stall, rc.stallMs))) return
        if (!(await write(res, Buffer.concat([text, tarPadding(text.length)]), stall, rc.stallMs))) return
      }
      res.end(tarEnd())
    })
}

/** The blob's bytes as getBlob finds them (after a pending move is finished), or null. */
async function openBlob(ctx: PagesContext, did: string, cid: string): Promise<Readable | null> {
  try {
    return await ctx.s.blobs.getStream(did, cid)
  } catch (err) {
    if (!(err instanceof BlobNotFoundError)) throw err
  }
  const store = ctx.s.actors.get(did)
  if (store?.blobs.getBlobRow(cid)?.tempKey) await finishPendingBlobs(store.blobs, ctx.s.blobs, did)
  try {
    return await ctx.s.blobs.getStream(did, cid)
  } catch (err) {
    if (err instanceof BlobNotFoundError) return null
    throw err
  }
}

/** Cuts off a response whose client stalled (and says so in the log). */
type Stall = () => void

/** Writes a chunk; false once the response is gone (the client left, or stalled and was cut off). */
async function write(res: ServerResponse, chunk: Buffer, stall: Stall, stallMs: number): Promise<boolean> {
  if (res.destroyed) return false
  if (chunk.length === 0 || res.write(chunk)) return true
  if (!(await drainOrClose(res, stallMs))) stall()
  return !res.destroyed
}

/** Copies a blob into the response; its byte count, or null when the response is gone. */
async function copy(body: Readable, res: ServerResponse, stall: Stall, stallMs: number): Promise<number | null> {
  let sent = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (res.destroyed) return null
      sent += chunk.length
      if (!(await write(res, chunk, stall, stallMs))) return null
    }
    return res.destroyed ? null : sent
  } finally {
    body.destroy()
  }
}
