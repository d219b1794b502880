// com.atproto.admin.updateSubjectStatus (moderator): takedown (or its reversal) of an account, a
// record or a blob; deactivation of an account. As official:
// - account: takedownRef set (default ref: now), every session and OAuth token of the account
//   revoked, an #account event with the resulting status; logins then fail and sync reads answer
//   RepoTakendown;
// - record: its takedownRef (repo.getRecord / listRecords hide it; the MST and sync exports keep it);
// - blob: its takedownRef and the file moved into quarantine (sync.getBlob answers "Blob not found",
//   re-upload is refused).
import { setAccountModeration, type StatusAttr } from '../../../../actions/account-state.ts'
import { applyBlobTakedown } from '../../../../actions/blob-apply.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { parseRecordUri, subjectStore } from './util.ts'

interface Input {
  subject: { $type?: string; did?: string; uri?: string; cid?: string }
  takedown?: StatusAttr
  deactivated?: StatusAttr
}

const REPO_REF = 'com.atproto.admin.defs#repoRef'
const STRONG_REF = 'com.atproto.repo.strongRef'
const BLOB_REF = 'com.atproto.admin.defs#repoBlobRef'

export default function updateSubjectStatus(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'blobs' | 'sequencer'>): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.updateSubjectStatus',
    auth: s.auth.moderator,
    handler: async ({ input }) => {
      const { subject, takedown, deactivated } = input as Input
      // As the official 0.5 line: the two would contradict each other.
      if (takedown?.applied && deactivated != null && !deactivated.applied) {
        throw invalidRequest('Cannot activate and takedown an account at the same time')
      }
      const type = subject.$type
      if (type === REPO_REF) {
        setAccountModeration(s, subject.did as string, { takedown, deactivated })
      } else if (takedown) {
        if (type === STRONG_REF) {
          const { authority, collection, rkey } = parseRecordUri(subject.uri as string)
          const store = subjectStore(s, authority)
          if (!store) throw invalidRequest(`Could not find repo: ${authority}`)
          const ref = takedown.applied ? (takedown.ref ?? new Date().toISOString()) : null
          store.setRecordTakedown(`at://${store.did}/${collection}/${rkey}`, ref)
        } else if (type === BLOB_REF) {
          const store = subjectStore(s, subject.did as string)
          if (!store) throw invalidRequest(`Could not find repo: ${subject.did}`)
          // A CID the router let through but that names no blob row changes nothing, as official.
          if (store.blobs.getBlobRow(subject.cid as string)) {
            await applyBlobTakedown(store.blobs, s.blobs, store.did, subject.cid as string, takedown)
          }
        } else {
          throw invalidRequest(`Invalid subject (${type})`)
        }
      }
      const body: Record<string, unknown> = { subject }
      if (takedown) body.takedown = takedown
      return { encoding: 'application/json', body }
    },
  }
}
