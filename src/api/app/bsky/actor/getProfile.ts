// app.bsky.actor.getProfile: proxied to the AppView; the requester's own profile shows its
// latest, maybe not yet indexed, profile record.
import { readAfterWriteMethod } from '../../../../proxy/read-after-write.ts'
import type { Services } from '../../../../services.ts'

export default function getProfile(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>) {
  return readAfterWriteMethod(s, 'app.bsky.actor.getProfile', (viewer, original, local, requester) => {
    if (!local.profile || original.did !== requester) return original
    return viewer.updateProfileDetailed(original, local.profile.record)
  })
}
