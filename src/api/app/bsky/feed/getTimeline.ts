// app.bsky.feed.getTimeline: proxied; the requester's unindexed posts are inserted in place.
import { readAfterWriteMethod } from '../../../../proxy/read-after-write.ts'
import type { Services } from '../../../../services.ts'

type Json = Record<string, unknown>

export default function getTimeline(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>) {
  return readAfterWriteMethod(s, 'app.bsky.feed.getTimeline', async (viewer, original, local) => ({
    ...original,
    feed: await viewer.formatAndInsertPostsInFeed([...(original.feed as Json[])], local.posts),
  }))
}
