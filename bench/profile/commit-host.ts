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
