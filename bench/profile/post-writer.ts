// A new account and a function that writes n more posts into it, one createRecord at a time
// (each post of the same ordinary length, numbered on from the last): the load of the profiling
// tools that watch a server through a run of sequential writes.
import type { XrpcClient } from '../server/client.ts'

export async function postWriter(client: XrpcClient, name: string): Promise<(n: number) => Promise<void>> {
  const acct = (await client.call('POST', 'com.atproto.server.createAccount', {
    json: { handle: `${name}.pds.bench.test`, email: `${name}@bench.test`, password: `password-${name}` },
  })) as { did: string; accessJwt: string }
  let k = 0
  return async (n) => {
    for (let i = 0; i < n; i++, k++) {
      const record = { $type: 'app.bsky.feed.post', text: `post ${k}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() }
      await client.call('POST', 'com.atproto.repo.createRecord', { token: acct.accessJwt, json: { repo: acct.did, collection: 'app.bsky.feed.post', record } })
    }
  }
}
