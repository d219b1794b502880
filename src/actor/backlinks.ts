// The links the official PDS indexes to keep one follow/block per subject and one like/repost
// per subject post (its record/reader.ts getBacklinks): a follow or block links its subject
// DID at path `subject`, a like or repost its subject's AT-URI at `subject.uri`.
import { isValidAtUri, isValidDid } from '../repo/syntax.ts'

export interface Backlink {
  path: string
  linkTo: string
}

const DID_SUBJECT = new Set(['app.bsky.graph.follow', 'app.bsky.graph.block'])
const URI_SUBJECT = new Set(['app.bsky.feed.like', 'app.bsky.feed.repost'])

/** A record's backlinks (by its `$type`); none for other types or a malformed subject. */
export function backlinksOf(record: Record<string, unknown>): Backlink[] {
  const type = record.$type
  if (typeof type !== 'string') return []
  const subject = record.subject
  if (DID_SUBJECT.has(type)) {
    return typeof subject === 'string' && isValidDid(subject) ? [{ path: 'subject', linkTo: subject }] : []
  }
  if (URI_SUBJECT.has(type)) {
    const uri = subject !== null && typeof subject === 'object' ? (subject as Record<string, unknown>).uri : undefined
    return typeof uri === 'string' && isValidAtUri(uri) ? [{ path: 'subject.uri', linkTo: uri }] : []
  }
  return []
}
