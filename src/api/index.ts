// Every XRPC method Hearth serves, one file per method under src/api/<nsid path>.ts; each group
// lists its methods in its own index.ts.
import type { MethodFactory } from './method-factory.ts'

export type { MethodFactory }

/** Loads every method module (before the server listens, so that none answers 501 meanwhile). */
export async function loadMethodFactories(): Promise<MethodFactory[]> {
  const out: MethodFactory[] = []
  for (const load of GROUP_LOADERS) out.push(...(await load()).methods)
  return out
}

// Each entry is a group's index module exporting `methods: MethodFactory[]`.
const GROUP_LOADERS: Array<() => Promise<{ methods: MethodFactory[] }>> = [
  () => import('./com/atproto/server/index.ts'),
  () => import('./com/atproto/repo/index.ts'),
  () => import('./com/atproto/sync/index.ts'),
  () => import('./com/atproto/admin/index.ts'),
  () => import('./com/atproto/identity/index.ts'),
  () => import('./app/bsky/actor/index.ts'),
  () => import('./com/atproto/moderation/index.ts'),
  () => import('./app/bsky/feed/index.ts'),
  () => import('./app/bsky/notification/index.ts'),
]
