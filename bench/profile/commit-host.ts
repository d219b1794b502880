// What the in-process commit tools run commits against: an account table, an event log and an
// actor-store manager in a temporary folder, from the tree at `root` (loaded at run time, so that
// a copy of another commit can be measured beside this one), and the services commitPrepared
// takes. `load` imports any other module of that tree.
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function commitHost(root: string, tmpPrefix: string) {
  const load = (p: string): Promise<any> => import(join(root, p))
  const { openAccountDb } = await load('src/account/db.ts')
  const { AccountStore } = await load('src/account/store.ts')
  const { ActorStoreManager } = await load('src/actor/manager.ts')
  const { Sequencer } = await load('src/sequencer/sequencer.ts')
  const { AccountQueues } = await load('src/blob/store.ts')
  const { silentLogger } = await load('src/logger.ts')
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix))
  const accounts = new AccountStore(openAccountDb(join(dir, 'account.sqlite')), { hostname: 'bench.test' })
  const sequencer = new Sequencer(join(dir, 'sequencer.sqlite'))
  const actors = new ActorStoreManager(join(dir, 'actors'), sequencer)
  // Trees before repo_root followed the event log had no such module.
  if (existsSync(join(root, 'src/actions/repo-roots.ts'))) (await load('src/actions/repo-roots.ts')).followRepoRoots({ accounts, sequencer })
  const queues = new AccountQueues()
  const services = { accounts, actors, blobs: { serialize: (did: string, fn: () => Promise<unknown>) => queues.run(did, fn) }, logger: silentLogger, sequencer }
  return { load, dir, accounts, sequencer, actors, services }
}

/**
 * A new account's store in `host` with its first commit, and `commit(n)`: one commit of `n` new
 * posts of ordinary length through commitPrepared, settled; it returns the posts' rkeys.
 */
export async function postingAccount(host: Awaited<ReturnType<typeof commitHost>>, did: string) {
  const { load, accounts, actors, services } = host
  const { initRepo } = await load('src/actor/transactor.ts')
  const { prepareCreate } = await load('src/actor/prepare.ts')
  const { commitPrepared } = await load('src/actions/commit.ts')
  const { Secp256k1Keypair } = await load('src/repo/crypto/index.ts')
  const store = actors.create(did, await Secp256k1Keypair.create({ exportable: true }))
  const first = initRepo(store)
  accounts.updateRepoRoot(did, first.cid.$link, first.rev)
  let k = 0
  const post = () => ({ $type: 'app.bsky.feed.post', text: `post ${k++}: a sentence or two of ordinary length, like most posts are.`, createdAt: new Date(1.7e12 + k * 1000).toISOString() })
  async function commit(n = 1): Promise<string[]> {
    const writes = Array.from({ length: n }, () => prepareCreate({ did, collection: 'app.bsky.feed.post', record: post() }))
    await commitPrepared(services, did, store, writes).settled
    return writes.map((w: { rkey: string }) => w.rkey)
  }
  return { store, commit }
}
