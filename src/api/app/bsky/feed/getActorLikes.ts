// app.bsky.feed.getActorLikes: proxied; the requester's own posts show its current profile.
import { readAfterWriteMethod } from '../../../../proxy/read-after-write.ts'
import type { Services } from '../../../../services.ts'
import { updateAuthorProfiles } from './author-munge.ts'

type Json = Record<string, unknown>

export default function getActorLikes(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>) {
  return readAfterWriteMethod(s, 'app.bsky.feed.getActorLikes', (viewer, original, local, requester) => ({
    ...original,
    feed: updateAuthorProfiles(viewer, original.feed as Json[], local, requester),
  }))
}
