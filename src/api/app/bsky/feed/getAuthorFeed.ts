// app.bsky.feed.getAuthorFeed: proxied; on the requester's own feed, unindexed posts are
// inserted and its profile details refreshed.
import { readAfterWriteMethod } from '../../../../proxy/read-after-write.ts'
import type { Services } from '../../../../services.ts'
import { updateAuthorProfiles } from './author-munge.ts'

type Json = Record<string, unknown>

export default function getAuthorFeed(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>) {
  return readAfterWriteMethod(s, 'app.bsky.feed.getAuthorFeed', async (viewer, original, local, requester) => {
    if (!isUsersFeed(original.feed as Json[], requester)) return original
    const feed = updateAuthorProfiles(viewer, original.feed as Json[], local, requester)
    return { ...original, feed: await viewer.formatAndInsertPostsInFeed(feed, local.posts) }
  })
}

// As official: judged by the first item (the requester's post, or its repost).
function isUsersFeed(feed: Json[], requester: string): boolean {
  const first = feed[0]
  if (!first) return false
  const reason = first.reason as Json | undefined
  if (!reason) return ((first.post as Json).author as Json).did === requester
  return reason.$type === 'app.bsky.feed.defs#reasonRepost' && (reason.by as Json | undefined)?.did === requester
}
