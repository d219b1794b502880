// com.atproto.repo.uploadBlob: streams the body to temp storage (size limit enforced as it
// arrives; the router refuses a too-large Content-Length up front), then records it as an
// untethered blob until a record references it.
import { acceptUpload } from '../../../../actions/blob-apply.ts'
import { assertBlobPermission } from '../../../../auth/permissions.ts'
import type { AccessAuth, ServiceAuth } from '../../../../xrpc/auth-result.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'

const DAY = 24 * 60 * 60_000

export default function uploadBlob(s: Pick<Services, 'actors' | 'auth' | 'blobs' | 'config'>): XrpcMethod<AccessAuth | ServiceAuth> {
  const maxSize = s.config.service.blobUploadLimit
  return {
    nsid: 'com.atproto.repo.uploadBlob',
    // Service auth lets a migrating account upload to its new PDS before it is active here.
    auth: s.auth.accessOrUserServiceAuth({ checkTakedown: true }),
    blobLimit: maxSize,
    rateLimits: [{ name: 'com.atproto.repo.uploadBlob', durationMs: DAY, points: 1000 }],
    handler: async ({ auth, body, encoding }) => {
      const did = auth.did
      assertBlobPermission(auth, encoding ?? '*/*')
      const store = s.actors.get(did, { forWrite: true })
      if (!store) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
      if (!body) throw invalidRequest('A request body is expected but none was provided')
      const temp = await s.blobs.putTemp(did, body, { maxSize })
      const blob = await acceptUpload(store.blobs, s.blobs, did, temp, encoding)
      return {
        encoding: 'application/json',
        body: { blob: { $type: 'blob', ref: { $link: blob.ref.$link }, mimeType: blob.mimeType, size: blob.size } },
      }
    },
  }
}
