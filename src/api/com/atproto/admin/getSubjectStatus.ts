// com.atproto.admin.getSubjectStatus (moderator): the takedown state of a blob (did + blob), a
// record (uri) or an account (did, with its deactivation too). Unknown subjects, and records or
// blobs that were never taken down or restored, as official: a blob or record needs a row; 400
// NotFound "Subject not found" otherwise.
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { parseRecordUri, subjectStore } from './util.ts'

const subjectNotFound = () => invalidRequest('Subject not found', 'NotFound')

export default function getSubjectStatus(s: Pick<Services, 'accounts' | 'actors' | 'auth'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.getSubjectStatus',
    auth: s.auth.moderator,
    handler: ({ params }) => {
      const did = params.did as string | undefined
      const uri = params.uri as string | undefined
      const blob = params.blob as string | undefined
      let body: Record<string, unknown> | null = null
      if (blob) {
        if (!did) throw invalidRequest('Must provide a did to request blob state')
        const store = subjectStore(s, did)
        const takedown = store ? store.blobs.getBlobTakedown(blob) : null
        if (takedown) body = { subject: { $type: 'com.atproto.admin.defs#repoBlobRef', did, cid: blob }, takedown }
      } else if (uri) {
        const { authority, collection, rkey } = parseRecordUri(uri)
        const store = subjectStore(s, authority)
        const row = store?.getRecordTakedown(`at://${store.did}/${collection}/${rkey}`)
        if (row) {
          body = {
            subject: { $type: 'com.atproto.repo.strongRef', uri, cid: row.cid },
            takedown: row.takedownRef ? { applied: true, ref: row.takedownRef } : { applied: false },
          }
        }
      } else if (did) {
        const status = s.accounts.getAdminStatus(did)
        if (status) body = { subject: { $type: 'com.atproto.admin.defs#repoRef', did }, ...status }
      } else {
        throw invalidRequest('No provided subject')
      }
      if (body === null) throw subjectNotFound()
      return { encoding: 'application/json', body }
    },
  }
}
