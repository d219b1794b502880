// The read-after-write patch shared by getAuthorFeed and getActorLikes: the requester's own
// items show its current avatar and display name.
import type { LocalViewer } from '../../../../proxy/local-viewer.ts'
import type { LocalRecords } from '../../../../proxy/local-viewer.ts'

type Json = Record<string, unknown>

export function updateAuthorProfiles(viewer: LocalViewer, feed: Json[], local: LocalRecords, requester: string): Json[] {
  const profile = local.profile
  if (!profile) return feed
  return feed.map((item) => {
    const post = item.post as Json
    const author = post.author as Json
    if (author.did !== requester) return item
    return { ...item, post: { ...post, author: viewer.updateProfileViewBasic(author, profile.record) } }
  })
}
