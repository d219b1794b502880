// com.atproto.admin.updateSubjectStatus (moderator): takedown (or its reversal) of an account, a
// record or a blob; deactivation of an account. As official:
// - account: takedownRef set (default ref: now), every session and OAuth token of the account
//   revoked, an #account event with the resulting status; logins then fail and sync reads answer
//   RepoTakendown;
// - record: its takedownRef (repo.getRecord / listRecords hide it; the MST and sync exports keep it);
// - blob: its takedownRef and the file moved into quarantine (sync.getBlob answers "Blob not found",
//   re-upload is refused).
import { accountEvent } from '../../../../sequencer/events.ts'
import { applyBlobTakedown } from '../../../../blob/apply.ts'
import { getBlobRow } from '../../../../blob/metadata.ts'
import type { Services } from '../../../../services.ts'
import { invalidRequest } from '../../../../xrpc/errors.ts'
import type { XrpcMethod } from '../../../../xrpc/types.ts'
import { parseRecordUri, subjectStore } from './util.ts'

interface StatusAttr {
  applied: boolean
  ref?: string
}

interface Input {
  subject: { $type?: string; did?: string; uri?: string; cid?: string }
  takedown?: StatusAttr
  deactivated?: StatusAttr
}

const REPO_REF = 'com.atproto.admin.defs#repoRef'
const STRONG_REF = 'com.atproto.repo.strongRef'
const BLOB_REF = 'com.atproto.admin.defs#repoBlobRef'

export default function updateSubjectStatus(s: Services): XrpcMethod {
  return {
    nsid: 'com.atproto.admin.updateSubjectStatus',
    auth: s.auth.moderator,
    handler: async ({ input }) => {
      const { subject, takedown, deactivated } = input as Input
      const type = subject.$type
      if (takedown) {
        if (type === REPO_REF) {
          s.accounts.setTakedown(subject.did as string, takedown)
        } else if (type === STRONG_REF) {
          const { authority, collection, rkey } = parseRecordUri(subject.uri as string)
          const store = subjectStore(s, authority)
          if (!store) throw invalidRequest(`Could not find repo: ${authority}`)
          const ref = takedown.applied ? (takedown.ref ?? new Date().toISOString()) : null
          store.setRecordTakedown(`at://${store.did}/${collection}/${rkey}`, ref)
        } else if (type === BLOB_REF) {
          const store = subjectStore(s, subject.did as string)
          if (!store) throw invalidRequest(`Could not find repo: ${subject.did}`)
          // A CID the router let through but that names no blob row changes nothing, as official.
          if (getBlobRow(store.db, subject.cid as string)) {
            await applyBlobTakedown(store.db, s.blobs, store.did, subject.cid as string, takedown)
          }
        } else {
          throw invalidRequest(`Invalid subject (${type})`)
        }
      }
      if (deactivated && type === REPO_REF) {
        if (deactivated.applied) s.accounts.deactivateAccount(subject.did as string, null)
        else s.accounts.activateAccount(subject.did as string)
      }
      if (type === REPO_REF) {
        const did = subject.did as string
        // The official would announce an unknown DID as deleted; there is nothing here to announce.
        if (s.accounts.getAccount(did, { includeTakenDown: true, includeDeactivated: true })) {
          s.sequencer.append([accountEvent(did, s.accounts.getAccountStatus(did))])
        }
      }
      const body: Record<string, unknown> = { subject }
      if (takedown) body.takedown = takedown
      return { encoding: 'application/json', body }
    },
  }
}
