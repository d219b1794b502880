// app.bsky.actor.getProfiles: proxied; the requester's own entry patched as in getProfile.
import { readAfterWriteMethod } from '../../../../proxy/read-after-write.ts'
import type { Services } from '../../../../services.ts'

type Json = Record<string, unknown>

export default function getProfiles(s: Pick<Services, 'accounts' | 'actors' | 'auth' | 'config' | 'didResolver' | 'logger' | 'proxy'>) {
  return readAfterWriteMethod(s, 'app.bsky.actor.getProfiles', (viewer, original, local, requester) => {
    const profile = local.profile
    if (!profile) return original
    const profiles = (original.profiles as Json[]).map((p) => (p.did === requester ? viewer.updateProfileDetailed(p, profile.record) : p))
    return { ...original, profiles }
  })
}
