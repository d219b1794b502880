// com.atproto.sync.getBlob: a blob's bytes, with the headers that keep a browser from running
// or rendering it. Unknown and taken-down blobs alike are 400 "Blob not found", as official.
import { finishPendingBlobs } from '../../../../actions/blob-apply.ts'
import { BlobNotFoundError } from '../../../../blob/store.ts'
import { SCOPE_TAKENDOWN } from '../../../../auth/scopes.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { availableStore, paramCid } from './util.ts'

const blobNotFound = () => invalidRequest('Blob not found')

export default function getBlob(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs'>): XrpcMethod {
  return {
    nsid: 'com.atproto.sync.getBlob',
    auth: s.auth.optional({ additional: [SCOPE_TAKENDOWN] }),
    handler: async ({ params, auth }) => {
      const did = params.did as string
      const store = availableStore(s, auth, did)
      let cid
      try {
        cid = paramCid(params.cid as string)
      } catch {
        throw blobNotFound()
      }
      const meta = store.blobs.getBlobMetadata(cid.$link)
      if (!meta) throw blobNotFound()
      let body
      try {
        body = await s.blobs.getForSend(did, cid)
      } catch (err) {
        if (!(err instanceof BlobNotFoundError)) throw err
        // A blob just committed may still be moving from temp storage (the write path queues
        // that file work per account): wait for the account's queue once, then look again.
        // A move that failed (the object store was down at commit time) is finished now rather
        // than at the next sweep, so the blob is served as soon as the store is back.
        await s.blobs.serialize(did, async () => {})
        if (store.blobs.getBlobRow(cid.$link)?.tempKey) await finishPendingBlobs(store.blobs, s.blobs, did)
        try {
          body = await s.blobs.getForSend(did, cid)
        } catch (again) {
          if (again instanceof BlobNotFoundError) throw blobNotFound()
          throw again
        }
      }
      return {
        encoding: meta.mimeType || 'application/octet-stream',
        // A small blob on disk comes whole, in a buffer the store reuses once the response is sent.
        ...('bytes' in body ? { body: body.bytes, onClose: body.release } : { body: body.stream }),
        headers: {
          'content-length': String(meta.size),
          'x-content-type-options': 'nosniff',
          'content-disposition': `attachment; filename="${cid.$link}"`,
          'content-security-policy': "default-src 'none'; sandbox",
        },
      }
    },
  }
}
